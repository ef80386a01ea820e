"""Agency workspace and the referral lifecycle: the case header's current referral and its
deadline, the Case Team tab's referral history, the response window of a partner agent
added by hand, the Referrals board's state filters and live probe, and closing a case."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import routing, services
from cases.models import Case, CaseEvent, Referral
from partners.calendar import BusinessCalendar
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
HTMX = {"HTTP_HX_REQUEST": "true"}
# Later than any response window of a referral made today.
FAR_FUTURE = timezone.now() + timedelta(days=365)


def header(html: str) -> str:
    """The case header: status facts, the current referral, the transition buttons."""
    start = html.index('<div id="case-status"')
    return html[start : html.index('<div class="cw-facts__item"><dt>Primary partner', start)]


def history(html: str) -> str:
    """The Case Team tab's list of referrals."""
    start = html.index('<section id="referral-history"')
    return html[start : html.index("</section>", start)]


def history_rows(html: str) -> list[str]:
    return re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", history(html), re.S)


def board_names(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'<a class="usa-link" href="/cases/\d+/team/">([^<]+)</a>', html)


def overdue(referral: Referral, **ago) -> None:
    """Make a pending referral's deadline pass (the clock cannot wait two business days)."""
    Referral.objects.filter(pk=referral.pk).update(due_at=timezone.now() - timedelta(**ago))


# The case header -----------------------------------------------------------------------------


def test_the_header_shows_the_pending_referral_and_when_it_is_due(manager_client, partner_agent):
    case, _member = make_referral(agent_user=partner_agent)
    html = header(manager_client.get(f"/cases/{case.pk}/").content.decode())
    assert '<span class="usa-tag cw-referral cw-referral--pending">Pending</span>' in html
    assert partner_agent.get_full_name() in html
    assert "due in 16 business hours" in html
    assert "overdue" not in html


def test_the_header_says_by_how_much_a_referral_is_overdue(manager_client, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    overdue(member.referral, days=2)
    html = header(manager_client.get(f"/cases/{case.pk}/").content.decode())
    assert "cw-due--overdue" in html and "overdue by 2 days" in html
    assert "due in" not in html


def test_the_header_shows_an_accepted_referral_without_a_deadline(manager_client, partner_agent):
    case, _member = make_referral(agent_user=partner_agent, accepted=True)
    html = header(manager_client.get(f"/cases/{case.pk}/").content.decode())
    assert "cw-referral--accepted" in html and ">Accepted</span>" in html
    assert "cw-due" not in html


def test_a_case_never_referred_to_a_partner_has_no_referral_in_its_header(manager_client):
    case = make_case(status=Status.THIRD_PARTY)
    html = header(manager_client.get(f"/cases/{case.pk}/").content.decode())
    assert "<dt>Referral</dt>" not in html


# The Case Team tab's referral history -------------------------------------------------------


def test_the_team_tab_lists_every_referral_newest_first_with_reasons_and_outcomes(
    manager_client, agency_manager, partner_agent, partner_colleague, partner_manager, outsider
):
    case, first = make_referral(agent_user=partner_agent, actor=agency_manager)
    moved = services.referral_reassign(
        actor=partner_manager, referral=first.referral, to_user=partner_colleague
    )
    services.referral_decline(
        actor=partner_colleague,
        referral=moved.referral,
        reason="other",
        note="We do not serve that county",
    )
    record_consent(case, outsider.partner_agent.organization, actor=agency_manager)
    last = services.case_team_add(actor=agency_manager, case=case, user=outsider)
    services.referral_accept(actor=outsider, referral=last.referral)
    services.referral_complete(
        actor=outsider,
        referral=last.referral,
        outcome=Referral.Outcome.SERVED,
        note="Rent paid for two months",
    )

    rows = history_rows(manager_client.get(f"/cases/{case.pk}/team/").content.decode())
    assert len(rows) == 3
    newest, declined, reassigned = rows
    assert outsider.get_full_name() in newest and ">Completed</span>" in newest
    assert "Client served" in newest and "Rent paid for two months" in newest
    assert partner_colleague.get_full_name() in declined and ">Declined</span>" in declined
    assert "<strong>Other</strong>: We do not serve that county" in declined
    assert f"Replaces the referral to {partner_agent.get_full_name()}" in declined
    assert partner_agent.get_full_name() in reassigned and ">Withdrawn</span>" in reassigned
    assert "Reassigned to another agent" in reassigned
    assert "Replaces the referral" not in reassigned + newest


def test_a_case_without_referrals_says_so_on_the_team_tab(manager_client):
    case = make_case(status=Status.THIRD_PARTY)
    html = history(manager_client.get(f"/cases/{case.pk}/team/").content.decode())
    assert "No referral yet." in html and "<table" not in html


def test_closing_a_third_party_case_withdraws_its_referral(manager_client, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    response = manager_client.post(f"/cases/{case.pk}/transition/close/")
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.referral.state == State.WITHDRAWN and not member.is_active
    assert member.referral.reason == Referral.WithdrawReason.CASE_CLOSED
    assert case.events.filter(verb=CaseEvent.Verb.WITHDRAWN).count() == 1
    (row,) = history_rows(manager_client.get(f"/cases/{case.pk}/team/").content.decode())
    assert ">Withdrawn</span>" in row and "The case was closed" in row
    assert "cw-due" not in row
    assert not partner_agent.has_perm("cases.view_case", case)


# A partner agent added by hand: the response window ----------------------------------------


def test_the_response_window_is_prefilled_with_the_organizations_default(
    manager_client, partner_agent, northside
):
    northside.default_response_hours = 24
    northside.save()
    case = make_case(status=Status.THIRD_PARTY)
    html = manager_client.get(
        f"/cases/{case.pk}/team/",
        {"user": partner_agent.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="team-tab-choices",
    ).content.decode()
    assert re.search(r'<input[^>]*name="response_hours"[^>]*value="24"', html), html


def test_a_response_window_sets_the_due_time_in_business_hours(
    manager_client, partner_agent, northside
):
    case = make_case(status=Status.THIRD_PARTY)
    record_consent(case, northside)
    manager_client.post(
        f"/cases/{case.pk}/team/add/",
        {"user": partner_agent.pk, "tabs": ["notes"], "response_hours": 4},
    )
    referral = case.team.get(user=partner_agent).referral
    assert referral.state == State.PENDING and referral.response_hours == 4
    calendar = BusinessCalendar.for_organization(northside)
    assert referral.due_at == calendar.add_business_hours(referral.requested_at, 4)
    assert calendar.business_hours_between(referral.requested_at, referral.due_at) == 4


def test_without_a_response_window_the_organizations_default_applies(
    manager_client, partner_agent, northside
):
    case = make_case(status=Status.THIRD_PARTY)
    record_consent(case, northside)
    manager_client.post(f"/cases/{case.pk}/team/add/", {"user": partner_agent.pk})
    referral = case.team.get(user=partner_agent).referral
    assert referral.response_hours == northside.default_response_hours == 16
    calendar = BusinessCalendar.for_organization(northside)
    assert referral.due_at == calendar.add_business_hours(referral.requested_at, 16)


def test_a_response_window_of_zero_hours_is_a_form_error(manager_client, partner_agent):
    case = make_case(status=Status.THIRD_PARTY)
    before = CaseEvent.objects.count()
    response = manager_client.post(
        f"/cases/{case.pk}/team/add/", {"user": partner_agent.pk, "response_hours": 0}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="id_response_hours_error_1"[^>]*>Ensure this value is greater', html)
    assert not case.team.filter(user=partner_agent).exists()
    assert not case.referrals.exists()
    assert CaseEvent.objects.count() == before


# The Referrals board ------------------------------------------------------------------------


@pytest.fixture
def board(agency_manager, partner_agent, partner_colleague, partner_manager, outsider):
    """One Third-Party case in each referral state, and cases the board never lists."""
    actor = agency_manager

    def refer(name, user=partner_agent, **kwargs):
        return make_referral(agent_user=user, actor=actor, name=name, **kwargs)[1]

    refer("Pending")
    overdue(refer("Overdue").referral, days=2)
    refer("Accepted", accepted=True)
    working = refer("In progress", accepted=True)
    services.record_add(actor=partner_agent, case=working.case, kind="notes", body="Called")
    for name in ("Waitlisted", "Review passed"):
        member = refer(name, user=partner_colleague, accepted=True)
        services.referral_waitlist(
            actor=partner_colleague,
            referral=member.referral,
            review_at=timezone.now() + timedelta(days=7),
        )
    Referral.objects.filter(case__name="Review passed").update(
        review_at=timezone.now() - timedelta(hours=3)
    )
    # Expired with no routing rule to follow: back with the case owner.
    lapsed = refer("Escalated", user=outsider)
    routing.referrals_expire_overdue(now=FAR_FUTURE, ids=[lapsed.referral_id])
    for name, completed_at in (("Completed", None), ("Completed long ago", 30)):
        member = refer(name, user=outsider, accepted=True)
        services.referral_complete(
            actor=outsider,
            referral=member.referral,
            outcome=Referral.Outcome.PARTLY_SERVED,
            note="Filed the appeal",
        )
        if completed_at:
            Referral.objects.filter(pk=member.referral_id).update(
                completed_at=timezone.now() - timedelta(days=completed_at)
            )
    declined = refer("Declined")
    services.referral_decline(actor=partner_agent, referral=declined.referral, reason="conflict")
    make_case(name="Unassigned", status=Status.THIRD_PARTY, actor=actor)
    make_case(name="Only approved", status=Status.APPROVED, actor=actor)
    closed = refer("Closed after referral")
    services.case_transition(actor=actor, case=closed.case, name="close")


# The cases each filter lists: exactly these, whatever the order.
BOARD_FILTERS = {
    "pending": {"Pending", "Overdue"},
    "overdue": {"Overdue", "Review passed"},
    "accepted": {"Accepted"},
    "in_progress": {"In progress"},
    "waitlisted": {"Waitlisted", "Review passed"},
    "escalated": {"Escalated"},
    "completed_week": {"Completed"},
    # No partner agent on the team now: never had one, or theirs expired or declined.
    "unassigned": {"Unassigned", "Escalated", "Declined"},
}


@pytest.mark.usefixtures("board")
@pytest.mark.parametrize(("state", "expected"), BOARD_FILTERS.items())
def test_each_state_filter_of_the_board_lists_exactly_its_cases(manager_client, state, expected):
    response = manager_client.get("/cases/referrals/", {"state": state})
    names = board_names(response)
    assert len(names) == len(set(names))
    assert set(names) == expected
    assert f'<option value="{state}" selected>' in response.content.decode()


@pytest.mark.usefixtures("board")
def test_the_whole_board_lists_every_open_referral_most_pressing_first(manager_client):
    """Overdue answers and reviews first, then by deadline, then the worked referrals, longest
    first; nothing that has ended and nothing of a case that is not Third-Party."""
    response = manager_client.get("/cases/referrals/")
    names = board_names(response)
    pressing, worked = names[:4], names[4:]
    assert set(pressing) == {"Overdue", "Review passed", "Pending", "Waitlisted"}
    assert pressing.index("Overdue") < pressing.index("Pending")
    assert pressing.index("Review passed") < pressing.index("Pending")
    assert pressing[-1] == "Waitlisted"  # reviewed in a week, after the pending answer
    assert worked == ["Accepted", "In progress"]
    assert "<strong>6</strong> referrals open" in response.content.decode()


def test_an_empty_board_says_what_is_empty(manager_client):
    assert "No open referral." in manager_client.get("/cases/referrals/").content.decode()
    html = manager_client.get("/cases/referrals/", {"state": "overdue"}).content.decode()
    assert "No referral is overdue now." in html
    html = manager_client.get("/cases/referrals/", {"state": "unassigned"}).content.decode()
    assert "Every Third-Party case has a partner agent." in html


def test_the_board_shows_each_referrals_due_time_and_outcome(
    manager_client, agency_manager, partner_agent, outsider
):
    make_referral(agent_user=partner_agent, actor=agency_manager, name="Waiting")
    _case, late = make_referral(agent_user=partner_agent, actor=agency_manager, name="Late")
    overdue(late.referral, days=3)
    _case, done = make_referral(
        agent_user=outsider, actor=agency_manager, name="Done", accepted=True
    )
    services.referral_complete(
        actor=outsider,
        referral=done.referral,
        outcome=Referral.Outcome.REFERRED_ELSEWHERE,
        note="Sent to the county housing office",
    )
    html = manager_client.get("/cases/referrals/").content.decode()
    rows = {
        name: html[html.index(f">{name}</a>") :].split("</tr>")[0] for name in ("Waiting", "Late")
    }
    assert ">Done</a>" not in html  # ended: not open
    html = manager_client.get("/cases/referrals/", {"state": "completed_week"}).content.decode()
    rows["Done"] = html[html.index(">Done</a>") :].split("</tr>")[0]
    due = timezone.localtime(Referral.objects.get(case__name="Waiting").due_at)
    assert "due in 16 business hours" in rows["Waiting"]
    assert f'datetime="{due.isoformat()}"' in rows["Waiting"]
    assert "cw-due--overdue" in rows["Late"] and "overdue by 3 days" in rows["Late"]
    assert "<strong>Referred elsewhere</strong>: Sent to the county housing office" in rows["Done"]
    assert "cw-due" not in rows["Done"]


def test_the_board_probe_is_204_while_nothing_changed(manager_client, partner_agent):
    make_referral(agent_user=partner_agent, name="Waiting")
    html = manager_client.get("/cases/referrals/").content.decode()
    latest = CaseEvent.objects.order_by("-pk").first().pk
    assert f"since={latest}" in html and 'hx-trigger="every 10s"' in html
    response = manager_client.get("/cases/referrals/", {"since": latest}, **HTMX)
    assert response.status_code == 204 and response.content == b""
    # Without htmx it is the page, whatever `since` says.
    assert manager_client.get("/cases/referrals/", {"since": latest}).status_code == 200


def test_the_board_probe_answers_with_the_refreshed_board_after_an_event(
    manager_client, partner_agent
):
    _case, member = make_referral(agent_user=partner_agent, name="Waiting")
    latest = CaseEvent.objects.order_by("-pk").first().pk
    services.referral_accept(actor=partner_agent, referral=member.referral)
    response = manager_client.get("/cases/referrals/", {"since": latest}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert board_names(response) == ["Waiting"]
    assert "cw-referral--accepted" in html and "cw-referral--pending" not in html
    newest = CaseEvent.objects.order_by("-pk").first().pk
    assert newest > latest and f"since={newest}" in html
    assert manager_client.get("/cases/referrals/", {"since": newest}, **HTMX).status_code == 204


def _board_rows(count: int, start: int = 0) -> None:
    """Third-Party cases whose referrals, each to its own organization, are pending,
    overdue, in progress, waitlisted or completed in turn."""
    for n in range(start, start + count):
        organization = PartnerOrganizationFactory(name=f"Board Org {n:03d}")
        agent = PartnerAgentFactory(
            user=UserFactory(username=f"board-agent-{n:03d}"), organization=organization
        ).user
        kind = n % 5
        case, member = make_referral(
            agent_user=agent, name=f"Board case {n:03d}", accepted=kind >= 2
        )
        if kind == 1:
            overdue(member.referral, hours=5)
        elif kind == 2:
            services.record_add(actor=agent, case=case, kind="notes", body="Called")
        elif kind == 3:
            services.referral_waitlist(actor=agent, referral=member.referral, review_at=FAR_FUTURE)
        elif kind == 4:
            services.referral_complete(
                actor=agent, referral=member.referral, outcome="served", note="Done"
            )


def test_the_board_takes_the_same_queries_for_1_or_50_rows(
    manager_client, django_assert_num_queries
):
    """Whatever the rows, their states and organizations: the same statements (the page,
    its partner agents with their referrals, the organizations' closures, ...)."""
    _board_rows(1)
    manager_client.get("/cases/referrals/")  # the first request stamps the session
    with CaptureQueriesContext(connection) as one:
        assert board_names(manager_client.get("/cases/referrals/")) == ["Board case 000"]
    _board_rows(49, start=1)
    for params in ({}, {"state": "pending"}, {"state": "overdue"}, {"state": "in_progress"}):
        with django_assert_num_queries(len(one)):
            response = manager_client.get("/cases/referrals/", params)
        assert response.status_code == 200
        assert board_names(response), params
    assert len(board_names(manager_client.get("/cases/referrals/"))) == 25
