"""The case page: details form, view tabs by permission, shared records, query counts."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from cases import services
from cases.models import Case, CaseEvent

from .conftest import ALL_TABS, add_records, page_statements, refer

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def case_url(case, tab=None) -> str:
    if tab:
        return reverse("portal:case_tab", args=[case.pk, tab])
    return reverse("portal:case", args=[case.pk])


def tab_links(html: str) -> list[str]:
    return re.findall(r'<a id="tab-([a-z]+)" class="cwp-tabs__link', html)


def test_the_details_form_shows_the_partner_fields_and_nothing_internal(client, partner_agent):
    case, _ = refer(
        partner_agent,
        name="Rivera Household",
        applicant_name="Ana Rivera",
        applicant_phone="(555) 010-2233",
        summary="Needs counsel before the hearing.",
        household_income=Decimal("48213.77"),
        applicant_identifier="XID-90210-Q",
        date_of_birth=date(1911, 11, 11),
        eligibility_notes="Internal: income verified by phone.",
    )
    client.force_login(partner_agent)
    html = client.get(case_url(case)).content.decode()
    details = re.search(r'<dl class="cwp-details">.*?</dl>', html, re.S)[0]
    labels = re.findall(r"<dt>(.*?)</dt>", details)
    assert labels == [
        "Case Number",
        "Case Name",
        "Program",
        "Status",
        "Priority",
        "Applicant name",
        "Applicant phone",
        "Applicant email",
        "Region",
        "Language",
        "Summary",
    ]
    assert len(labels) == len(Case.PARTNER_FIELDS)
    for shown in ("Rivera Household", "Ana Rivera", "(555) 010-2233", "Needs counsel", "English"):
        assert shown in details
    hidden_values = ("48213.77", "48,213.77", "XID-90210-Q", "11, 1911", "1911-11-11")
    for hidden in (*hidden_values, "income verified by phone"):
        assert hidden not in html
    for label in ("Household income", "Applicant identifier", "Date of birth", "Eligibility"):
        assert label not in html


def test_opening_the_case_records_a_view_the_agency_sees(client, partner_agent):
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    client.get(case_url(case))
    event = case.events.get(verb=CaseEvent.Verb.VIEWED)
    assert event.actor == partner_agent
    assert event.by_partner


def test_loading_a_tab_is_recorded_as_a_view_of_that_tab_for_the_accounting(client, partner_agent):
    """The accounting of disclosures lists what the partner opened: each tab load is a
    view of that tab (the case page's own view is the one without a tab)."""
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    client.get(case_url(case, "notes"), headers=HTMX)
    client.get(case_url(case, "activities"))
    views = case.events.filter(verb=CaseEvent.Verb.VIEWED).order_by("pk")
    assert [event.data for event in views] == [{"tab": "notes"}, {"tab": "activities"}]
    assert all(event.actor == partner_agent for event in views)


@pytest.mark.parametrize(
    "granted",
    [
        [],
        ["activities"],
        ["attachments"],
        ["servicerequests", "notes"],
        ["activities", "attachments", "notes"],
        ALL_TABS,
    ],
)
def test_tabs_follow_the_granted_permissions(client, partner_agent, granted):
    case, _ = refer(partner_agent, tabs=granted)
    client.force_login(partner_agent)
    html = client.get(case_url(case)).content.decode()
    assert tab_links(html) == granted
    for tab in ALL_TABS:
        for headers in ({}, HTMX):
            response = client.get(case_url(case, tab), headers=headers)
            assert response.status_code == (200 if tab in granted else 404), (tab, headers)
    assert client.get(case_url(case, "events")).status_code == 404


def test_a_partner_manager_sees_the_union_of_the_tabs_of_the_organizations_agents(
    client, partner_agent, partner_colleague, partner_manager, agency_manager
):
    case, _ = refer(partner_agent, tabs=["notes"])
    services.case_team_add(
        actor=agency_manager, case=case, user=partner_colleague, tabs=["activities"]
    )
    client.force_login(partner_manager)
    assert tab_links(client.get(case_url(case)).content.decode()) == ["activities", "notes"]
    assert client.get(case_url(case, "attachments")).status_code == 404


def test_without_javascript_the_first_tab_is_a_link_and_loads_with_htmx(client, partner_agent):
    case, _ = refer(partner_agent, tabs=["notes", "activities"])
    client.force_login(partner_agent)
    html = client.get(case_url(case)).content.decode()
    first = case_url(case, "activities")
    assert f'href="{first}"' in html
    assert f'hx-get="{first}" hx-trigger="load"' in html


def test_an_htmx_tab_request_gets_only_the_tabs_and_the_panel(client, partner_agent):
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.get(case_url(case, "notes"), headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="case-tabs"')
    assert "<html" not in html
    assert 'aria-current="page">Notes</a>' in html
    assert "HX-Request" in response["Vary"]
    full = client.get(case_url(case, "notes")).content.decode()
    assert "<html" in full
    assert 'aria-current="page">Notes</a>' in full


def test_each_tab_lists_only_records_shared_with_partners(client, partner_agent, caseworker):
    case, _ = refer(partner_agent)
    add_records(case, actor=caseworker, shared=True, prefix="Shared")
    add_records(case, actor=caseworker, shared=False, prefix="Internal")
    client.force_login(partner_agent)
    expected = {
        "notes": "Shared 0 note",
        "activities": "Shared 0 activity",
        "servicerequests": "Shared 0 service request",
        "attachments": "Shared-0.txt",
    }
    for tab, shared in expected.items():
        html = client.get(case_url(case, tab)).content.decode()
        assert shared in html
        assert "Internal" not in html


def test_an_agent_who_works_the_case_gets_the_add_forms_and_a_status_form(
    client, partner_agent, caseworker
):
    case, _ = refer(partner_agent, accepted=True)
    add_records(case, actor=caseworker)
    client.force_login(partner_agent)
    for tab in ("notes", "activities", "attachments"):
        html = client.get(case_url(case, tab)).content.decode()
        assert f'action="{reverse("portal:record_add", args=[case.pk, tab])}"' in html
        assert "shared_with_partners" not in html
        assert 'name="case"' not in html
    html = client.get(case_url(case, "servicerequests")).content.decode()
    assert "/status/" in html
    assert "/servicerequests/add/" not in html


def test_a_partner_manager_sees_who_holds_the_case_and_a_reassign_form(
    client, partner_agent, partner_colleague, partner_manager, outsider
):
    case, _ = refer(partner_agent)
    client.force_login(partner_manager)
    html = client.get(case_url(case)).content.decode()
    assignments = re.search(r'<section class="cwp-assignments".*?</section>', html, re.S)[0]
    assert partner_agent.get_full_name() in assignments
    assert f'<option value="{partner_colleague.pk}">' in assignments
    assert f'<option value="{partner_agent.pk}">' not in assignments  # holds it already
    assert f'<option value="{outsider.pk}">' not in assignments
    assert "Accept case" not in html  # the manager is not the one referred to


def test_agents_see_no_reassign_form(client, partner_agent):
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    html = client.get(case_url(case)).content.decode()
    assert "cwp-assignments" not in html
    assert reverse("portal:reassign", args=[case.pk]) not in html
    assert "Accept case" in html


# Query counts ------------------------------------------------------------------------------


def test_the_case_page_takes_at_most_8_queries_for_1_or_200_records(
    client, partner_agent, caseworker
):
    """Session, user, partner profile, the case (with the user's membership and the New
    count), two for guardian's permissions, the view event, and on first opening the
    asterisk's UPDATE. Records load with their tab: the page does not grow with them."""
    few, _ = refer(partner_agent)
    many, _ = refer(partner_agent)
    add_records(few, actor=caseworker, count=1)
    add_records(many, actor=caseworker, count=200)
    client.force_login(partner_agent)
    client.get("/portal/")  # the first request after sign-in stamps the session
    first = [page_statements(client, case_url(case)) for case in (few, many)]
    again = [page_statements(client, case_url(case)) for case in (few, many)]
    assert len(first[0]) == len(first[1]) <= 8
    assert len(again[0]) == len(again[1]) == len(first[0]) - 1
    for tab in ALL_TABS:
        full = [len(page_statements(client, case_url(case, tab))) for case in (few, many)]
        panel = [
            len(page_statements(client, case_url(case, tab), headers=HTMX)) for case in (few, many)
        ]
        assert full[0] == full[1] <= 8, tab
        assert panel[0] == panel[1] <= 8, tab


def test_a_partner_manager_case_page_takes_the_same_8_queries_for_1_or_200_records(
    client, partner_agent, partner_colleague, partner_manager, caseworker
):
    """The manager's page adds the reassignment choices (the organization's agents): still
    the same statements whatever the number of records. A full tab page takes one more,
    the view of the tab that the accounting of disclosures lists."""
    few, _ = refer(partner_agent)
    many, _ = refer(partner_colleague)
    add_records(few, actor=caseworker, count=1)
    add_records(many, actor=caseworker, count=200)
    client.force_login(partner_manager)
    client.get("/portal/")
    pages = [len(page_statements(client, case_url(case))) for case in (few, many)]
    assert pages[0] == pages[1] <= 8
    for tab in ALL_TABS:
        full = [len(page_statements(client, case_url(case, tab))) for case in (few, many)]
        assert full[0] == full[1] <= 9, tab
