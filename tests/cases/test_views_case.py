"""Agency workspace: the case page, its transition buttons, view tabs, Partners and Case
Team, as an agency manager would use them and as a caseworker may not."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from cases import selectors, services
from cases.models import Case, CaseEvent, CasePartner, CaseTeamMember, Referral
from cases.records import Tab
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

Status = Case.Status
State = Referral.State
Verb = CaseEvent.Verb
TAB_SLUGS = [
    "details",
    "partners",
    "team",
    "activities",
    "attachments",
    "servicerequests",
    "notes",
    "history",
]
TAB_LABELS = {
    "details": "Details",
    "partners": "Partners",
    "team": "Case Team",
    "activities": "Activities",
    "attachments": "Attachments",
    "servicerequests": "Service Requests",
    "notes": "Notes",
    "history": "History",
}
HTMX_TAB = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-tabs"}
# Session, user, partner profile, roles, case, permissions, header partners, the header's
# current referral and its organization's closures, team summary (and the closures of its
# referrals' organizations), feed, cursor, the Inbox count of the navigation, and the tab's
# own one to seven queries (Case Team: the members and their referrals' closures, the count
# of partner agents who may join, the Add form's choices, the referral history and its
# closures, and the routing decision). Was 23: the header's banner of emergency access in
# force (one query), and the Add form's consent state of each organization it lists (the
# consents and the emergency access, two queries).
PAGE_QUERIES = 26
# Was 11: the Case Team tab now counts the partner agents who may join (one COUNT) to decide
# between listing them all and offering a search. Was 12: the members' referrals need their
# organizations' closures (due times in business hours), and the tab lists every referral
# of the case (one query, and one for their organizations' closures). Was 15: the Add
# form reads whether a consent covers each organization it lists (consents and emergency
# access, two queries).
TAB_QUERIES = 17


def tab_url(case, slug="details"):
    if slug == "details":
        return f"/cases/{case.pk}/"
    return f"/cases/{case.pk}/{slug}/"


def buttons(response) -> list[str]:
    """Labels of the transition buttons (forms with a confirmation)."""
    html = response.content.decode()
    return re.findall(r'data-confirm="[^"]+"[^>]*>.*?<button[^>]*>([^<]+)</button>', html)


# Case page -----------------------------------------------------------------------------------


def test_the_case_page_shows_number_name_status_owner_and_tabs(manager_client, agency_manager):
    case = make_case(name="Household of Rivera", owner=agency_manager)
    response = manager_client.get(tab_url(case))
    html = response.content.decode()
    assert response.status_code == 200
    assert case.number in html and "Household of Rivera</h1>" in html
    assert "cw-status--open" in html and ">Open</span>" in html
    assert agency_manager.get_full_name() in html
    for slug, label in TAB_LABELS.items():
        assert f'href="{tab_url(case, slug)}"' in html and f">{label}</a>" in html
    assert 'aria-current="page">Details</a>' in html


def test_the_details_tab_writes_the_income_as_money(manager_client):
    case = make_case(household_income="12505.5")
    html = manager_client.get(tab_url(case)).content.decode()
    assert "<dt>Household income (monthly)</dt><dd>$12,505.50</dd>" in html


@pytest.mark.parametrize(
    ("code", "shown"), [("es", "Spanish"), ("ht", "Haitian Creole"), ("xx", "xx")]
)
def test_the_details_tab_names_the_case_language(manager_client, code, shown):
    case = make_case(language=code)
    html = manager_client.get(tab_url(case)).content.decode()
    assert f"<dt>Language</dt><dd>{shown}</dd>" in html


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.OPEN, ["Approve", "Deny"]),
        (Status.APPROVED, ["Refer to Third-Party", "Close Case"]),
        (Status.THIRD_PARTY, ["Recall Referral", "Close Case"]),
        (Status.CLOSED, ["Reopen"]),
    ],
)
def test_a_manager_sees_the_transition_buttons_of_the_status(manager_client, status, expected):
    assert buttons(manager_client.get(tab_url(make_case(status=status)))) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.OPEN, []),
        (Status.APPROVED, ["Close Case"]),
        # Closing a Third-Party case withdraws its referrals: it takes the recall permission.
        (Status.THIRD_PARTY, []),
        (Status.CLOSED, ["Reopen"]),
    ],
)
def test_a_caseworker_never_sees_approve_deny_refer_or_recall(caseworker_client, status, expected):
    assert buttons(caseworker_client.get(tab_url(make_case(status=status)))) == expected


def test_each_transition_button_is_a_post_form_with_a_confirmation(manager_client):
    case = make_case()
    html = manager_client.get(tab_url(case)).content.decode()
    assert re.search(
        rf'<form method="post" action="/cases/{case.pk}/transition/approve/" '
        rf'data-confirm="Approve case {case.number}\?',
        html,
    )


@pytest.mark.parametrize("slug", TAB_SLUGS)
def test_each_tab_has_its_own_url(manager_client, slug):
    case = make_case(status=Status.THIRD_PARTY)
    response = manager_client.get(tab_url(case, slug))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert f'aria-current="page">{TAB_LABELS[slug]}</a>' in html
    assert f'<h2 id="tab-heading" class="cw-tab-heading">{TAB_LABELS[slug]}</h2>' in html


@pytest.mark.parametrize("slug", TAB_SLUGS)
def test_htmx_loads_only_the_tab_panel(manager_client, slug):
    case = make_case()
    response = manager_client.get(tab_url(case, slug), **HTMX_TAB)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="case-tabs"')
    assert "<html" not in html and 'id="live-poll"' not in html
    assert f'aria-current="page">{TAB_LABELS[slug]}</a>' in html
    assert "HX-Request" in response["Vary"]


def test_an_unknown_tab_is_404(manager_client):
    assert manager_client.get(f"/cases/{make_case().pk}/secrets/").status_code == 404


def _busy_case(rows: int, agency_manager, prefix: str):
    """A Third-Party case with `rows` of everything: partners, team members, referrals,
    records, events. Every other agent accepted and records the work (their referral is in
    progress); the others have not answered yet (pending), and the agency records it. One
    more agent may still join: the Add form always lists an organization (and reads whether
    the client's consent covers it)."""
    case = make_case(status=Status.THIRD_PARTY, actor=agency_manager)
    organizations = [PartnerOrganizationFactory(name=f"{prefix} Org {n}") for n in range(rows)]
    PartnerAgentFactory(user=UserFactory(username=f"{prefix}-idle"), organization=organizations[0])
    for n, organization in enumerate(organizations):
        services.partner_add(actor=agency_manager, case=case, partner=organization)
        record_consent(case, organization, actor=agency_manager)
        agent = PartnerAgentFactory(
            user=UserFactory(username=f"{prefix}-agent-{n}"), organization=organization
        ).user
        member = services.case_team_add(actor=agency_manager, case=case, user=agent)
        author = agency_manager
        if n % 2 == 0:
            services.referral_accept(actor=agent, referral=member.referral)
            author = agent
        services.record_add(actor=author, case=case, kind="notes", body=f"Note {n}")
        services.record_add(actor=author, case=case, kind="activities", subject=f"Call {n}")
        services.record_add(actor=author, case=case, kind="servicerequests", title=f"SR {n}")
    return case


def _query_counts(client, case) -> dict[tuple[str, bool], int]:
    """Queries of the whole page and of the htmx tab panel, for every tab."""
    counts = {}
    for slug in TAB_SLUGS:
        for partial in (False, True):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(tab_url(case, slug), **(HTMX_TAB if partial else {}))
            assert response.status_code == 200
            counts[slug, partial] = len(queries)
    return counts


def test_the_case_page_and_each_tab_query_counts_do_not_grow_with_rows(
    manager_client, agency_manager
):
    """Identical counts with 2 (one referral in progress, one pending) and with 50 partners,
    team members, referrals, records of each kind and events, within the bounds: the whole
    page, and each tab loaded alone by htmx."""
    small = _busy_case(2, agency_manager, "small")
    _query_counts(manager_client, small)  # warms the content type and permission caches
    one = _query_counts(manager_client, small)
    fifty = _query_counts(manager_client, _busy_case(50, agency_manager, "big"))
    assert fifty == one
    assert max(n for (slug, partial), n in one.items() if not partial) <= PAGE_QUERIES, one
    assert max(n for (slug, partial), n in one.items() if partial) <= TAB_QUERIES, one


# Transitions ---------------------------------------------------------------------------------


def test_a_manager_approves_a_case(manager_client, agency_manager):
    case = make_case()
    response = manager_client.post(f"/cases/{case.pk}/transition/approve/", follow=True)
    case.refresh_from_db()
    assert case.status == Status.APPROVED
    assert response.redirect_chain[-1][0] == f"/cases/{case.pk}/"
    assert f"Case {case.number} approved." in response.content.decode()
    event = case.events.get(verb=Verb.TRANSITION)
    assert event.actor == agency_manager and event.data["transition"] == "approve"


def test_a_manager_refers_an_approved_case_to_third_party(manager_client):
    case = make_case(status=Status.APPROVED)
    manager_client.post(f"/cases/{case.pk}/transition/refer/")
    case.refresh_from_db()
    assert case.status == Status.THIRD_PARTY


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (Status.OPEN, "approve"),
        (Status.OPEN, "deny"),
        (Status.APPROVED, "refer"),
        (Status.THIRD_PARTY, "recall"),
    ],
)
def test_a_caseworker_cannot_approve_deny_refer_or_recall(caseworker_client, status, name):
    case = make_case(status=status)
    before = CaseEvent.objects.count()
    response = caseworker_client.post(f"/cases/{case.pk}/transition/{name}/")
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == status
    assert CaseEvent.objects.count() == before


def test_a_caseworker_may_close_a_case(caseworker_client):
    case = make_case(status=Status.APPROVED)
    caseworker_client.post(f"/cases/{case.pk}/transition/close/")
    case.refresh_from_db()
    assert case.status == Status.CLOSED


def test_a_transition_the_case_is_no_longer_in_a_state_for_is_refused_with_a_message(
    manager_client,
):
    """Someone else approved first: the second click lands back on the case with the reason
    (a redirect, not an error page), and nothing changes."""
    case = make_case(status=Status.APPROVED)
    before = CaseEvent.objects.count()
    response = manager_client.post(f"/cases/{case.pk}/transition/approve/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain == [(f"/cases/{case.pk}/", 302)]
    assert "usa-alert--error" in html and "was not done: The case is Approved." in html
    case.refresh_from_db()
    assert case.status == Status.APPROVED
    assert CaseEvent.objects.count() == before


def test_an_unknown_transition_is_404(manager_client):
    case = make_case()
    assert manager_client.post(f"/cases/{case.pk}/transition/delete/").status_code == 404


def test_a_transition_needs_the_csrf_token(client, agency_manager):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(agency_manager)
    case = make_case()
    assert csrf_client.post(f"/cases/{case.pk}/transition/approve/").status_code == 403
    case.refresh_from_db()
    assert case.status == Status.OPEN


# Partners ------------------------------------------------------------------------------------


def test_new_opens_the_partner_selector_of_active_predefined_partners(manager_client, northside):
    PartnerOrganizationFactory(name="Closed Shop", active=False)
    case = make_case(status=Status.APPROVED)
    html = manager_client.get(tab_url(case, "partners")).content.decode()
    assert f'href="/cases/{case.pk}/partners/?add=1"' in html and ">New</a>" in html
    assert 'id="id_partner"' not in html
    html = manager_client.get(tab_url(case, "partners"), {"add": "1"}).content.decode()
    assert 'id="id_partner"' in html
    # Each partner says whether the client's consent covers it.
    assert "Northside Legal Aid · No consent</option>" in html
    assert "Closed Shop" not in html
    assert f'hx-get="/cases/{case.pk}/partners/options/"' in html


def test_the_partner_search_returns_matching_options(manager_client, northside, harbor):
    case = make_case()
    response = manager_client.get(f"/cases/{case.pk}/partners/options/", {"q": "harb"})
    html = response.content.decode()
    assert (
        f'<option value="{harbor.pk}" selected>Harbor Family Services · No consent</option>' in html
    )
    assert "Northside" not in html
    html = manager_client.get(f"/cases/{case.pk}/partners/options/", {"q": "zzz"}).content
    assert "No active partner matches" in html.decode()


def test_the_first_partner_saved_is_primary_and_the_second_is_not(
    manager_client, northside, harbor
):
    case = make_case(status=Status.APPROVED)
    response = manager_client.post(f"/cases/{case.pk}/partners/add/", {"partner": northside.pk})
    assert response.status_code == 302 and response["Location"] == tab_url(case, "partners")
    response = manager_client.post(
        f"/cases/{case.pk}/partners/add/", {"partner": harbor.pk}, **HTMX_TAB
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="case-tabs"')
    assert "Harbor Family Services associated with the case." in html
    links = {link.partner: link.is_primary for link in CasePartner.objects.filter(case=case)}
    assert links == {northside: True, harbor: False}
    primary_first = (
        r'Northside Legal Aid</th>\s*<td data-label="Kind">[^<]*</td>\s*<td><span[^>]*>Primary'
    )
    assert re.search(primary_first, html)


def test_make_primary_moves_primary_to_another_partner(manager_client, northside, harbor):
    case = make_case(status=Status.APPROVED)
    for organization in (northside, harbor):
        services.partner_add(actor=case.owner, case=case, partner=organization)
    response = manager_client.post(f"/cases/{case.pk}/partners/{harbor.pk}/primary/", **HTMX_TAB)
    assert "Harbor Family Services is now the Primary partner." in response.content.decode()
    assert CasePartner.objects.get(case=case, is_primary=True).partner == harbor
    assert case.events.filter(verb=Verb.PARTNER_PRIMARY).count() == 1


def test_saving_without_a_partner_shows_the_error_next_to_the_field(manager_client):
    case = make_case()
    response = manager_client.post(f"/cases/{case.pk}/partners/add/", {"partner": ""})
    assert response.status_code == 200
    assert re.search(
        r'id="id_partner_error_1"[^>]*>This field is required', response.content.decode()
    )
    assert not CasePartner.objects.filter(case=case).exists()


def test_a_partner_already_on_the_case_or_inactive_cannot_be_saved(manager_client, northside):
    case = make_case()
    services.partner_add(actor=case.owner, case=case, partner=northside)
    closed = PartnerOrganizationFactory(name="Closed Shop", active=False)
    for organization in (northside, closed):
        response = manager_client.post(
            f"/cases/{case.pk}/partners/add/", {"partner": organization.pk}
        )
        assert b"Choose an active partner not yet on this case." in response.content
    assert CasePartner.objects.filter(case=case).count() == 1


def test_a_partner_whose_agent_is_on_the_team_cannot_be_removed(manager_client, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    response = manager_client.post(
        f"/cases/{case.pk}/partners/{member.organization_id}/remove/", follow=True
    )
    assert "Remove this partner&#x27;s agents from the Case Team" in response.content.decode()
    assert CasePartner.objects.filter(case=case).exists()


def test_removing_the_primary_partner_promotes_the_next(manager_client, northside, harbor):
    case = make_case()
    for organization in (northside, harbor):
        services.partner_add(actor=case.owner, case=case, partner=organization)
    manager_client.post(f"/cases/{case.pk}/partners/{northside.pk}/remove/")
    assert [(link.partner, link.is_primary) for link in case.case_partners.all()] == [
        (harbor, True)
    ]


def test_a_partner_of_another_case_is_404(manager_client, northside):
    other = make_case()
    services.partner_add(actor=other.owner, case=other, partner=northside)
    case = make_case()
    assert (
        manager_client.post(f"/cases/{case.pk}/partners/{northside.pk}/remove/").status_code == 404
    )
    assert (
        manager_client.post(f"/cases/{case.pk}/partners/{northside.pk}/primary/").status_code == 404
    )
    assert other.case_partners.count() == 1


# Case Team -----------------------------------------------------------------------------------


def test_the_team_tab_shows_members_referral_states_and_first_opened(
    manager_client, partner_agent, partner_colleague, outsider
):
    case, _member = make_referral(agent_user=partner_agent)
    services.case_mark_seen(user=partner_agent, case=case)
    record_consent(case, outsider.partner_agent.organization)
    declined = services.case_team_add(actor=case.owner, case=case, user=outsider)
    services.referral_decline(
        actor=outsider,
        referral=declined.referral,
        reason="other",
        note="We do not serve that county",
    )
    services.case_team_add(actor=case.owner, case=case, user=partner_colleague)
    html = manager_client.get(tab_url(case, "team")).content.decode()
    assert "cw-referral--pending" in html and "cw-referral--declined" in html
    assert "We do not serve that county" in html
    assert "Not yet opened" in html
    # PA opened it; the colleague has not (table and live summary), nor had the outsider.
    assert html.count("Not yet opened") == 3
    assert "Partner agent" in html and "Owner" in html


def test_the_add_member_form_groups_people_and_ticks_the_organization_tabs(
    manager_client, partner_agent, northside
):
    northside.default_tabs = [Tab.NOTES, Tab.ATTACHMENTS]
    northside.save()
    case = make_case(status=Status.THIRD_PARTY)
    html = manager_client.get(tab_url(case, "team")).content.decode()
    assert '<optgroup label="Agency staff">' in html
    assert '<optgroup label="Northside Legal Aid · No consent">' in html
    assert f'hx-get="/cases/{case.pk}/team/"' in html
    html = manager_client.get(
        tab_url(case, "team"),
        {"user": partner_agent.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="team-tab-choices",
    ).content.decode()
    checked = re.findall(r'value="(\w+)" checked', html)
    assert sorted(checked) == ["attachments", "notes"]


def test_saving_a_partner_agent_assigns_the_case(manager_client, agency_manager, partner_agent):
    case = make_case(status=Status.THIRD_PARTY)
    record_consent(case, partner_agent.partner_agent.organization)
    response = manager_client.post(
        f"/cases/{case.pk}/team/add/",
        {"user": partner_agent.pk, "tabs": ["notes", "activities"]},
        **HTMX_TAB,
    )
    html = response.content.decode()
    assert "added to the Case Team: the referral is pending" in html
    member = case.team.get(user=partner_agent)
    assert member.referral_state == State.PENDING and member.is_new
    assert sorted(member.tabs) == ["activities", "notes"]
    assert list(selectors.cases_for_partner_agent(user=partner_agent)) == [case]
    assert case.case_partners.get().is_primary


def test_an_agent_cannot_be_assigned_before_the_case_is_third_party(manager_client, partner_agent):
    case = make_case(status=Status.APPROVED)
    response = manager_client.post(f"/cases/{case.pk}/team/add/", {"user": partner_agent.pk})
    assert response.status_code == 200
    assert "Refer the case to Third-Party before assigning a partner agent." in (
        response.content.decode()
    )
    assert not case.team.filter(user=partner_agent).exists()


def test_agency_staff_join_the_team_without_a_referral(manager_client, caseworker):
    case = make_case()
    manager_client.post(f"/cases/{case.pk}/team/add/", {"user": caseworker.pk})
    member = case.team.get(user=caseworker)
    assert member.role == CaseTeamMember.Role.AGENCY and member.referral_state == ""


def test_someone_already_on_the_team_or_unknown_is_a_form_error(manager_client, agency_manager):
    case = make_case(owner=agency_manager)
    for value in (agency_manager.pk, 999999, "abc", ""):
        response = manager_client.post(f"/cases/{case.pk}/team/add/", {"user": value})
        assert response.status_code == 200
        assert b"usa-error-message" in response.content
    assert case.team.count() == 1


def test_remove_withdraws_a_pending_referral(manager_client, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    response = manager_client.post(f"/cases/{case.pk}/team/{partner_agent.pk}/remove/", follow=True)
    assert "the pending referral was withdrawn" in response.content.decode()
    member.refresh_from_db()
    assert member.referral_state == State.WITHDRAWN and not member.is_active
    assert not partner_agent.has_perm("cases.view_case", case)


def test_the_owner_cannot_be_removed(manager_client, agency_manager):
    case = make_case(owner=agency_manager)
    response = manager_client.post(
        f"/cases/{case.pk}/team/{agency_manager.pk}/remove/", follow=True
    )
    assert "The case owner stays on the Case Team." in response.content.decode()
    assert case.team.filter(user=agency_manager, is_active=True).exists()


def test_removing_someone_not_on_the_team_is_404(manager_client, partner_agent):
    case = make_case()
    assert (
        manager_client.post(f"/cases/{case.pk}/team/{partner_agent.pk}/remove/").status_code == 404
    )


def test_agency_staff_whose_role_lacks_a_permission_get_403(client, caseworker):
    """The case is visible (agency staff), the action is not allowed: 403, nothing changes."""
    from django.contrib.auth.models import Group

    Group.objects.get(name=Role.AGENCY_CASEWORKER).permissions.clear()
    client.force_login(caseworker)
    case = make_case()
    assert client.get(tab_url(case)).status_code == 200
    assert client.post(f"/cases/{case.pk}/team/add/", {"user": caseworker.pk}).status_code == 403
    assert client.post(f"/cases/{case.pk}/notes/add/", {"body": "x"}).status_code == 403
    assert client.get(f"/cases/{case.pk}/edit/").status_code == 403
    assert client.get("/cases/new/").status_code == 403
    assert case.team.count() == 1 and not case.notes.exists()


def test_the_url_names_reverse_to_the_tab_urls():
    assert reverse("cases:detail", args=[7]) == "/cases/7/"
    assert reverse("cases:detail", args=[7, "partners"]) == "/cases/7/partners/"
