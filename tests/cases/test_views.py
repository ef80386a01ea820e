"""Agency workspace: the Cases List, New Case and Edit, and the Referrals board, as agency
staff and as the people who must not get in."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from cases import services
from cases.models import Case, CaseEvent, CaseTeamMember, Program, Referral
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    make_referral,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

Status = Case.Status

# Every agency URL of this workspace with sample arguments, and whether it changes state.
AGENCY_URLS = [
    ("cases:list", {}, "get"),
    ("cases:new", {}, "get"),
    ("cases:referrals", {}, "get"),
    ("cases:detail", {"pk": 0}, "get"),
    ("cases:detail", {"pk": 0, "tab": "team"}, "get"),
    ("cases:edit", {"pk": 0}, "get"),
    ("cases:live", {"pk": 0}, "get"),
    ("cases:partner_options", {"pk": 0}, "get"),
    ("cases:attachment_download", {"pk": 0, "attachment_pk": 1}, "get"),
    ("cases:transition", {"pk": 0, "name": "approve"}, "post"),
    ("cases:partner_add", {"pk": 0}, "post"),
    ("cases:partner_primary", {"pk": 0, "partner_pk": 1}, "post"),
    ("cases:partner_remove", {"pk": 0, "partner_pk": 1}, "post"),
    ("cases:team_add", {"pk": 0}, "post"),
    ("cases:team_remove", {"pk": 0, "user_pk": 1}, "post"),
    ("cases:record_add", {"pk": 0, "kind": "notes"}, "post"),
    ("cases:servicerequest_status", {"pk": 0, "record_pk": 1}, "post"),
]
STATE_CHANGING = [(name, kwargs) for name, kwargs, method in AGENCY_URLS if method == "post"]


def url_for(name, kwargs, case=None):
    kwargs = {k: (case.pk if k == "pk" and case else v) for k, v in kwargs.items()}
    return reverse(name, kwargs=kwargs)


def rows(response) -> list[str]:
    """The Case Names of the Cases List table, in order."""
    return re.findall(r'class="usa-link cw-case-link"[^>]*>([^<]+)</a>', response.content.decode())


# Who gets in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs", "method"), AGENCY_URLS)
def test_partner_users_get_403_on_every_agency_url(client, partner_agent, name, kwargs, method):
    case, _ = make_referral(agent_user=partner_agent)
    client.force_login(partner_agent)
    before = CaseEvent.objects.count()
    response = getattr(client, method)(url_for(name, kwargs, case))
    assert response.status_code == 403
    assert case.name.encode() not in response.content
    assert CaseEvent.objects.count() == before


@pytest.mark.parametrize(("name", "kwargs", "method"), AGENCY_URLS)
def test_anonymous_visitors_are_sent_to_sign_in(client, name, kwargs, method):
    response = getattr(client, method)(url_for(name, kwargs, make_case()))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize(("name", "kwargs"), STATE_CHANGING)
def test_state_changing_endpoints_refuse_get(manager_client, name, kwargs):
    case = make_case(status=Status.APPROVED)
    before = CaseEvent.objects.count()
    assert manager_client.get(url_for(name, kwargs, case)).status_code == 405
    assert CaseEvent.objects.count() == before


@pytest.mark.parametrize(("name", "kwargs", "method"), [u for u in AGENCY_URLS if "pk" in u[1]])
def test_a_case_that_does_not_exist_is_404(manager_client, name, kwargs, method):
    missing = {**kwargs, "pk": 987654}
    assert getattr(manager_client, method)(reverse(name, kwargs=missing)).status_code == 404


# Cases List ----------------------------------------------------------------------------------


def test_the_cases_list_links_each_case_name_to_the_case(manager_client):
    case = make_case(name="Household of Rivera")
    response = manager_client.get("/cases/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1" in html and ">Cases</h1>" in html and "Cases List" in html
    assert f'href="/cases/{case.pk}/">Household of Rivera</a>' in html
    assert "1</strong> case" in html
    assert "New Case" in html


@pytest.mark.parametrize(
    "query", ["Rivera", "rivera", "CASE-2099-000777", "2099-000777", "Marisol", "Ortega"]
)
def test_the_query_finds_a_case_by_number_case_name_or_applicant(manager_client, query):
    make_case(
        name="Household of Rivera", number="CASE-2099-000777", applicant_name="Marisol Ortega"
    )
    make_case(name="Household of Chen", applicant_name="Li Chen")
    assert rows(manager_client.get("/cases/", {"q": query})) == ["Household of Rivera"]


def test_filters_narrow_the_list_by_status_program_owner_and_primary_partner(
    manager_client, caseworker, northside, harbor
):
    snap = ProgramFactory(code="SNAP", name="SNAP")
    wic = ProgramFactory(code="WIC", name="WIC")
    make_case(name="Open SNAP", program=snap)
    approved = make_case(name="Approved WIC", program=wic, status=Status.APPROVED, owner=caseworker)
    services.partner_add(actor=caseworker, case=approved, partner=northside)
    other = make_case(name="Approved SNAP", program=snap, status=Status.APPROVED)
    services.partner_add(actor=caseworker, case=other, partner=harbor)

    assert rows(manager_client.get("/cases/", {"status": "approved", "sort": "name"})) == [
        "Approved SNAP",
        "Approved WIC",
    ]
    assert rows(manager_client.get("/cases/", {"program": "WIC"})) == ["Approved WIC"]
    assert rows(manager_client.get("/cases/", {"owner": caseworker.pk})) == ["Approved WIC"]
    assert rows(manager_client.get("/cases/", {"partner": harbor.pk})) == ["Approved SNAP"]


def test_referred_and_not_accepted_shows_only_pending_referrals(manager_client, partner_agent):
    _pending, _ = make_referral(agent_user=partner_agent, name="Waiting")
    _accepted, member = make_referral(agent_user=partner_agent, name="Taken")
    services.referral_accept(actor=partner_agent, referral=member.referral)
    make_case(name="Not referred")
    response = manager_client.get("/cases/", {"pending": "on"})
    assert rows(response) == ["Waiting"]
    assert "cw-referral--pending" in response.content.decode()


def test_invalid_filter_values_are_ignored(manager_client):
    make_case(name="Still listed")
    response = manager_client.get(
        "/cases/", {"partner": "abc", "owner": "x", "program": "NOPE", "sort": "drop table"}
    )
    assert response.status_code == 200
    assert rows(response) == ["Still listed"]


def test_column_headers_sort_the_list_and_say_so_with_aria_sort(manager_client):
    for name in ("Bravo", "Alpha", "Charlie"):
        make_case(name=name)
    response = manager_client.get("/cases/", {"sort": "name"})
    assert rows(response) == ["Alpha", "Bravo", "Charlie"]
    html = response.content.decode()
    assert re.search(r'<th scope="col" aria-sort="ascending"><a[^>]*sort=-name', html)
    assert html.count("aria-sort=") == 1
    assert rows(manager_client.get("/cases/", {"sort": "-name"})) == ["Charlie", "Bravo", "Alpha"]


def test_the_list_is_paginated_25_per_page(manager_client):
    owner = UserFactory(roles=[Role.AGENCY_MANAGER])
    for n in range(30):
        make_case(name=f"Case {n:02d}", owner=owner)
    first = manager_client.get("/cases/", {"sort": "name"})
    assert len(rows(first)) == 25
    html = first.content.decode()
    assert "30</strong> cases" in html
    assert 'class="usa-pagination"' in html
    assert 'aria-label="Page 2"' in html
    second = manager_client.get("/cases/", {"sort": "name", "page": 2})
    assert rows(second) == [f"Case {n:02d}" for n in range(25, 30)]
    assert "sort=name&amp;page=1" in second.content.decode()


def test_an_empty_list_says_there_are_no_cases_yet(manager_client):
    html = manager_client.get("/cases/").content.decode()
    assert "No cases yet" in html
    assert "Clear filters" not in html


def test_a_search_without_results_offers_to_clear_the_filters(manager_client):
    make_case(name="Household of Rivera")
    html = manager_client.get("/cases/", {"q": "nobody"}).content.decode()
    assert "0 cases" in html
    assert "No case matches" in html
    assert '<a class="usa-link" href="/cases/">Clear filters</a>' in html


def test_htmx_filtering_returns_only_the_results(manager_client):
    make_case(name="Household of Rivera")
    response = manager_client.get(
        "/cases/", {"q": "Rivera"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="case-results"
    )
    html = response.content.decode()
    assert html.lstrip().startswith("{#") is False
    assert '<div id="case-results"' in html
    assert "<html" not in html and "case-filters" not in html
    assert rows(response) == ["Household of Rivera"]
    assert "HX-Request" in response["Vary"]


def _many_cases(count: int, partner, *, owner, program, start: int = 0) -> None:
    for n in range(start, start + count):
        case = make_case(name=f"Case {n:03d}", owner=owner, program=program)
        if n % 2 == 0:
            services.partner_add(actor=owner, case=case, partner=partner)


def _page_queries(client, url: str, params=None):
    """(number of SQL statements, response) of one GET."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(captured.captured_queries), response


def test_the_cases_list_takes_the_same_queries_for_1_or_200_cases(manager_client, northside):
    """Session, user, role, count, the Inbox count of the navigation, permissions (2), the
    filter choices (3), the page, and one per chosen program, partner or owner (the form
    checks it exists): the same for 1 case and for 200, filtered, sorted or paged."""
    owner = UserFactory(username="list-owner", roles=[Role.AGENCY_MANAGER])
    program = ProgramFactory(code="SNAP")
    variants = [
        {"status": "open"},
        {"q": "Case", "program": program.pk, "sort": "-name", "page": 3},
        {"partner": northside.pk, "owner": owner.pk, "sort": "owner"},
    ]
    _many_cases(1, northside, owner=owner, program=program)
    manager_client.get("/cases/")  # the first request stamps the session
    one = {}
    for n, params in enumerate(variants):
        one[n], response = _page_queries(manager_client, "/cases/", params)
        assert rows(response) == ["Case 000"], params
    assert one[0] <= 12
    _many_cases(199, northside, owner=owner, program=program, start=1)
    for n, params in enumerate(variants):
        count, response = _page_queries(manager_client, "/cases/", params)
        assert count == one[n], params
        assert len(rows(response)) == 25, params


# New Case and Edit ---------------------------------------------------------------------------


def _case_form(program, **overrides):
    data = {
        "name": "Household of Okafor",
        "program": program.pk,
        "priority": "normal",
        "region": "Riverbend",
        "language": "en",
        "summary": "Needs help with rent.",
        "applicant_name": "Ada Okafor",
        "applicant_phone": "",
        "applicant_email": "",
        "date_of_birth": "",
        "household_income": "",
        "applicant_identifier": "",
        "eligibility_notes": "",
    }
    return {**data, **overrides}


def test_new_case_opens_a_case_through_the_service(caseworker_client, caseworker):
    program = ProgramFactory(code="SNAP")
    page = caseworker_client.get("/cases/new/")
    assert page.status_code == 200 and b"New Case" in page.content
    response = caseworker_client.post(
        "/cases/new/", _case_form(program, owner=caseworker.pk), follow=True
    )
    case = Case.objects.get(name="Household of Okafor")
    assert response.redirect_chain[-1][0] == f"/cases/{case.pk}/"
    assert f"Case {case.number} opened." in response.content.decode()
    assert case.status == Status.OPEN and case.owner == caseworker
    assert case.team.get().role == CaseTeamMember.Role.OWNER
    assert case.events.get().verb == CaseEvent.Verb.CREATED


def test_new_case_shows_errors_next_to_the_fields_and_creates_nothing(
    caseworker_client, caseworker
):
    program = ProgramFactory(code="SNAP")
    response = caseworker_client.post(
        "/cases/new/",
        _case_form(program, name="", applicant_email="not-an-email", owner=caseworker.pk),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert Case.objects.count() == 0
    assert re.search(r'id="id_name_error_1"[^>]*>This field is required', html)
    assert re.search(r'id="id_applicant_email_error_1"[^>]*>Enter a valid email', html)
    assert 'aria-invalid="true"' in html
    # Each invalid field names its hint and its errors, and every id it names is on the page.
    assert re.search(r'<input[^>]*aria-describedby="id_name_error_1"[^>]*id="id_name"', html)
    for described in re.findall(r'aria-describedby="([^"]+)"', html):
        for element_id in described.split():
            assert f'id="{element_id}"' in html, element_id


def test_every_hint_and_error_a_form_field_names_is_on_the_page(manager_client):
    pages = [
        manager_client.get("/cases/new/"),
        manager_client.post("/cases/new/", {}),
        manager_client.get("/cases/routing/new/"),
        manager_client.post("/cases/routing/new/", {"name": ""}),
    ]
    named = 0
    for response in pages:
        html = response.content.decode()
        for described in re.findall(r'aria-describedby="([^"]+)"', html):
            for element_id in described.split():
                named += 1
                assert f'id="{element_id}"' in html, (response.request["PATH_INFO"], element_id)
    assert named > 10


def test_caseworkers_edit_a_case_and_the_change_is_recorded(caseworker_client, caseworker):
    case = make_case(name="Old name")
    form = caseworker_client.get(f"/cases/{case.pk}/edit/")
    assert b'value="Old name"' in form.content
    data = _case_form(case.program, name="New name", applicant_name=case.applicant_name)
    response = caseworker_client.post(f"/cases/{case.pk}/edit/", data)
    assert response.status_code == 302 and response["Location"] == f"/cases/{case.pk}/"
    case.refresh_from_db()
    assert case.name == "New name"
    event = case.events.filter(verb=CaseEvent.Verb.UPDATED).get()
    assert event.actor == caseworker and "name" in event.data["fields"]


def test_an_invalid_edit_changes_nothing(caseworker_client):
    case = make_case(name="Keep me")
    response = caseworker_client.post(f"/cases/{case.pk}/edit/", _case_form(case.program, name=""))
    assert response.status_code == 200
    assert b"This field is required" in response.content
    case.refresh_from_db()
    assert case.name == "Keep me"
    assert not case.events.filter(verb=CaseEvent.Verb.UPDATED).exists()


def test_an_edit_without_changes_records_nothing(caseworker_client):
    case = make_case(name="Same", applicant_name="Same Person", summary="")
    data = _case_form(case.program, name="Same", applicant_name="Same Person", summary="")
    data.update(region=case.region, priority=case.priority)
    caseworker_client.post(f"/cases/{case.pk}/edit/", data)
    assert not case.events.filter(verb=CaseEvent.Verb.UPDATED).exists()


# Referrals board -----------------------------------------------------------------------------


def _age_referral(member, days):
    """As if the referral had been made `days` ago (its answer due as long ago as well)."""
    back = timedelta(days=days)
    Referral.objects.filter(pk=member.referral_id).update(
        requested_at=F("requested_at") - back, due_at=F("due_at") - back
    )


def test_the_referrals_board_lists_open_referrals_stale_first(manager_client, partner_agent):
    _fresh_case, _fresh = make_referral(agent_user=partner_agent, name="Fresh referral")
    _stale_case, stale = make_referral(agent_user=partner_agent, name="Stale referral")
    _age_referral(stale, 5)
    _taken_case, taken = make_referral(agent_user=partner_agent, name="Accepted referral")
    services.referral_accept(actor=partner_agent, referral=taken.referral)
    make_case(name="Only approved", status=Status.APPROVED)

    response = manager_client.get("/cases/referrals/")
    html = response.content.decode()
    names = re.findall(r'<a class="usa-link" href="/cases/\d+/team/">([^<]+)</a>', html)
    assert names == ["Stale referral", "Fresh referral", "Accepted referral"]
    assert "5 days" in html and "Stale</span>" in html
    assert "Northside Legal Aid" in html
    assert partner_agent.get_full_name() in html
    assert "Accepted the referral" in html
    assert "Only approved" not in html


def test_the_referrals_board_filters_by_referral_state(manager_client, partner_agent):
    make_referral(agent_user=partner_agent, name="Pending one")
    make_case(name="Nobody yet", status=Status.THIRD_PARTY)
    html = manager_client.get("/cases/referrals/", {"state": "unassigned"}).content.decode()
    assert "Nobody yet" in html and "Pending one" not in html
    html = manager_client.get("/cases/referrals/", {"state": "pending"}).content.decode()
    assert "Pending one" in html and "Nobody yet" not in html


def test_a_declined_referral_shows_its_state_on_the_board(manager_client, partner_agent):
    _case, member = make_referral(agent_user=partner_agent, name="Turned down")
    services.referral_decline(actor=partner_agent, referral=member.referral, reason="no_capacity")
    assert "Turned down" not in manager_client.get("/cases/referrals/").content.decode()
    html = manager_client.get("/cases/referrals/", {"state": "unassigned"}).content.decode()
    assert "Turned down" in html and "cw-referral--unassigned" in html
    assert "cw-referral--declined" in html and "No capacity" in html
    assert f"{partner_agent.get_full_name()}<br>" in html


def test_the_last_partner_action_names_the_agent_who_took_it(
    manager_client, agency_manager, partner_agent, partner_colleague
):
    """One agent declined, the case went to a colleague who has not answered yet: the board
    must not make the decline read as the pending agent's."""
    case, member = make_referral(agent_user=partner_agent, name="Passed along")
    services.referral_decline(actor=partner_agent, referral=member.referral, reason="no_capacity")
    services.case_team_add(actor=agency_manager, case=case, user=partner_colleague)
    html = manager_client.get("/cases/referrals/").content.decode()
    row = html[html.index("Passed along") :]
    row = row[: row.index("</tr>")]
    assert partner_colleague.get_full_name() in row
    assert (
        f'Declined the referral <span class="cw-muted-text">by {partner_agent.get_full_name()}'
        in row
    )


def _board_referrals(agents, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        case, member = make_referral(agent_user=agents[n % 3].user, name=f"Referral {n:03d}")
        if n % 3 == 1:
            services.referral_accept(actor=member.user, referral=member.referral)
            services.record_add(actor=member.user, case=case, kind="notes", body="Called")


def test_the_referrals_board_takes_the_same_queries_for_1_or_200_referrals(manager_client):
    organization = PartnerOrganizationFactory(name="Board Partner")
    agents = [
        PartnerAgentFactory(
            user=UserFactory(username=f"board-agent-{n}"), organization=organization
        )
        for n in range(3)
    ]
    _board_referrals(agents, 1)
    manager_client.get("/cases/referrals/")  # the first request stamps the session
    one, response = _page_queries(manager_client, "/cases/referrals/")
    assert response.content.decode().count("Referral 000") == 1
    # Session, user, role, the newest event (the live probe's cursor), count, the page, its
    # partner agents with their referrals, the organizations' closures (business-hours due
    # times), the Inbox count of the navigation and permissions (2).
    assert one <= 12
    _board_referrals(agents, 199, start=1)
    for params in ({}, {"state": "pending", "page": 2}, {"state": "in_progress"}):
        count, response = _page_queries(manager_client, "/cases/referrals/", params)
        assert count == one, params
        assert len(re.findall(r"Referral \d{3}", response.content.decode())) >= 25, params


def test_program_choices_come_from_the_programs(manager_client):
    Program.objects.create(code="LIHEAP", name="Energy Assistance")
    assert b'value="LIHEAP"' in manager_client.get("/cases/").content
