"""Working an accepted referral in the portal (start, waitlist, resume, complete, could not
help), what a pending referral may not do, the case leaving the portal when the agency
closes it, and the partner manager's intake queue."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.models import Case, CaseEvent, CaseTeamMember, InboxItem, Referral
from tests.factories import make_case, record_consent

from .conftest import ALL_TABS, refer

pytestmark = pytest.mark.django_db

State = Referral.State
ACTIONS = ("start", "waitlist", "resume", "complete", "fail")
# The labels of the actions an accepted referral offers on the case page.
ACCEPTED_ACTIONS = {
    "start": "Start work",
    "waitlist": "Put on waitlist",
    "complete": "Complete",
    "fail": "Could not help",
}
CONTACTS_NEEDED = "needs at least 3 logged contact attempts"


def action_url(case, action):
    return reverse("portal:referral_action", args=[case.pk, action])


def case_url(case, tab=None):
    if tab:
        return reverse("portal:case_tab", args=[case.pk, tab])
    return reverse("portal:case", args=[case.pk])


def referral_of(member) -> Referral:
    """The member's current referral, fresh from the database (its state copied on the
    team row must agree)."""
    member.refresh_from_db()
    referral = Referral.objects.get(pk=member.referral_id)
    assert member.referral_state == referral.state
    return referral


def offered(html: str, case) -> set[str]:
    """The referral actions the case page offers: the ones with a form posting to them."""
    return {a for a in ACTIONS if f'action="{action_url(case, a)}"' in html}


def in_two_weeks():
    return timezone.localdate() + timedelta(days=14)


def log_contact(client, case, kind, subject):
    """The agent logs an activity in the portal (a contact attempt if a call, visit or
    letter)."""
    data = {"type": kind, "subject": subject, "status": "done"}
    response = client.post(reverse("portal:record_add", args=[case.pk, "activities"]), data)
    assert response.status_code == 302, response.status_code


@pytest.fixture
def accepted(client, partner_agent):
    """PA signed in, with a case whose referral PA accepted."""
    case, member = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    return case, member


# What the page offers ----------------------------------------------------------------------


def test_an_accepted_agent_sees_start_waitlist_complete_and_could_not_help(client, accepted):
    case, _ = accepted
    html = client.get(case_url(case)).content.decode()
    assert "Your referral: Accepted" in html
    assert offered(html, case) == set(ACCEPTED_ACTIONS)
    for label in ACCEPTED_ACTIONS.values():
        assert f">{label}</button>" in html, label
    assert "Resume work" not in html
    assert "Accept case" not in html


def test_once_started_the_page_no_longer_offers_start(client, accepted):
    case, _ = accepted
    client.post(action_url(case, "start"))
    html = client.get(case_url(case)).content.decode()
    assert "Your referral: In progress" in html
    assert offered(html, case) == {"waitlist", "complete", "fail"}


# Each action -------------------------------------------------------------------------------


def test_start_work_puts_the_referral_in_progress(client, accepted, partner_agent):
    case, member = accepted
    response = client.post(action_url(case, "start"), follow=True)
    assert response.redirect_chain == [(case_url(case), 302)]
    assert f"{case.number} is in progress. The agency sees it now." in response.content.decode()
    referral = referral_of(member)
    assert referral.state == State.IN_PROGRESS
    assert referral.started_at is not None
    assert case.events.filter(verb=CaseEvent.Verb.STARTED, actor=partner_agent).count() == 1


@pytest.mark.parametrize("days", [0, -1])
def test_the_waitlist_needs_a_review_date_after_today(client, accepted, days):
    case, member = accepted
    review_on = timezone.localdate() + timedelta(days=days)
    response = client.post(action_url(case, "waitlist"), {"review_on": review_on.isoformat()})
    assert response.status_code == 400
    assert "Choose a review date after today." in response.content.decode()
    assert referral_of(member).state == State.ACCEPTED
    assert not case.events.filter(verb=CaseEvent.Verb.WAITLISTED).exists()


def test_the_waitlist_needs_a_review_date_at_all(client, accepted):
    case, member = accepted
    response = client.post(action_url(case, "waitlist"), {"position": "3"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert referral_of(member).state == State.ACCEPTED


def test_putting_on_the_waitlist_and_resuming(client, accepted, partner_agent):
    case, member = accepted
    review_on = in_two_weeks()
    response = client.post(
        action_url(case, "waitlist"),
        {"review_on": review_on.isoformat(), "position": "4", "note": "Next intake slot"},
        follow=True,
    )
    assert response.redirect_chain == [(case_url(case), 302)]
    html = response.content.decode()
    assert (
        f"{case.number} is on your waitlist until {review_on:%B} {review_on.day}, "
        f"{review_on.year}. The agency has been told."
    ) in html
    assert "Your referral: Waitlisted" in html
    assert offered(html, case) == {"resume", "fail"}
    referral = referral_of(member)
    assert (referral.state, referral.waitlist_position, referral.reason_note) == (
        State.WAITLISTED,
        4,
        "Next intake slot",
    )
    assert referral.review_at == timezone.make_aware(datetime.combine(review_on, time(9, 0)))
    assert case.events.filter(verb=CaseEvent.Verb.WAITLISTED, actor=partner_agent).count() == 1

    response = client.post(action_url(case, "resume"), follow=True)
    assert f"{case.number} is off the waitlist and in progress." in response.content.decode()
    referral = referral_of(member)
    assert (referral.state, referral.review_at) == (State.IN_PROGRESS, None)
    assert case.events.filter(verb=CaseEvent.Verb.RESUMED, actor=partner_agent).count() == 1


def test_completing_needs_an_outcome_and_a_note(client, accepted):
    case, member = accepted
    response = client.post(action_url(case, "complete"), {"outcome": "", "note": "  "})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("This field is required.") == 2
    assert referral_of(member).state == State.ACCEPTED
    assert not case.events.filter(verb=CaseEvent.Verb.COMPLETED).exists()


def test_completing_records_the_outcome_and_tells_the_owner(client, accepted, partner_agent):
    case, member = accepted
    response = client.post(
        action_url(case, "complete"),
        {"outcome": "served", "note": "Hearing postponed; lease renewed."},
        follow=True,
    )
    assert response.redirect_chain == [(case_url(case), 302)]
    html = response.content.decode()
    assert f"You completed {case.number} (Client served). The case owner has been told." in html
    assert "Your referral: Completed" in html
    assert offered(html, case) == set()
    referral = referral_of(member)
    assert (referral.state, referral.outcome, referral.outcome_note) == (
        State.COMPLETED,
        Referral.Outcome.SERVED,
        "Hearing postponed; lease renewed.",
    )
    assert referral.completed_at is not None
    event = case.events.get(verb=CaseEvent.Verb.COMPLETED)
    assert (event.actor, event.data["outcome"]) == (partner_agent, "Client served")
    assert InboxItem.objects.filter(
        user=case.owner, case=case, kind=InboxItem.Kind.COMPLETED
    ).exists()
    # A finished referral stays on the agent's My Cases.
    assert f">{case.number}<" in client.get(reverse("portal:my_cases")).content.decode()


def test_could_not_contact_needs_three_contact_attempts_logged_by_the_partner(
    client, accepted, caseworker
):
    case, member = accepted
    # Not attempts: an email, and a call the agency logged.
    log_contact(client, case, "email", "Emailed the client")
    services.record_add(
        actor=caseworker,
        case=case,
        kind="activities",
        type="call",
        subject="Agency call",
        shared_with_partners=True,
    )
    log_contact(client, case, "call", "Called, no answer")
    log_contact(client, case, "visit", "Nobody home")
    data = {"outcome": "could_not_contact", "note": "Tried three ways."}
    response = client.post(action_url(case, "complete"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert CONTACTS_NEEDED in html
    assert "2 logged so far" in html
    assert '<span class="usa-error-message" role="alert">' in html
    assert referral_of(member).state == State.IN_PROGRESS  # the first record started it
    assert not case.events.filter(verb=CaseEvent.Verb.COMPLETED).exists()

    log_contact(client, case, "letter", "Letter sent")
    response = client.post(action_url(case, "complete"), data, follow=True)
    assert response.redirect_chain == [(case_url(case), 302)]
    assert f"You completed {case.number} (Could not contact the client)." in (
        response.content.decode()
    )
    referral = referral_of(member)
    assert (referral.state, referral.outcome) == (
        State.COMPLETED,
        Referral.Outcome.COULD_NOT_CONTACT,
    )


def test_the_complete_form_lists_the_contact_attempts_so_far(client, accepted):
    case, _ = accepted
    log_contact(client, case, "call", "Called the client")
    html = client.get(case_url(case)).content.decode()
    assert "Contact attempts logged in Activities (calls, visits, letters): 1" in html
    assert "Call: Called the client" in html


def test_could_not_help_needs_a_reason(client, accepted):
    case, member = accepted
    response = client.post(action_url(case, "fail"), {"note": "Sorry"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    response = client.post(action_url(case, "fail"), {"reason": "other", "note": " "})
    assert response.status_code == 400
    assert "Say why you could not help." in response.content.decode()
    assert referral_of(member).state == State.ACCEPTED
    assert not case.events.filter(verb=CaseEvent.Verb.COULD_NOT_HELP).exists()


def test_could_not_help_closes_the_referral_with_its_reason(client, accepted, partner_agent):
    case, member = accepted
    response = client.post(
        action_url(case, "fail"),
        {"reason": "client_declined", "note": "Moved out of state."},
        follow=True,
    )
    assert response.redirect_chain == [(case_url(case), 302)]
    html = response.content.decode()
    assert f"You closed {case.number}: could not help. The case owner has been told." in html
    assert "Client declined the service" in html
    referral = referral_of(member)
    assert (referral.state, referral.reason, referral.reason_note) == (
        State.COULD_NOT_HELP,
        Referral.FailReason.CLIENT_DECLINED,
        "Moved out of state.",
    )
    event = case.events.get(verb=CaseEvent.Verb.COULD_NOT_HELP)
    assert (event.actor, event.data["reason"]) == (partner_agent, "Client declined the service")
    assert InboxItem.objects.filter(user=case.owner, case=case, kind=InboxItem.Kind.FAILED).exists()


# A pending referral ------------------------------------------------------------------------


def test_a_pending_agent_sees_no_add_forms_nor_work_actions(client, partner_agent, caseworker):
    case, _ = refer(partner_agent)
    services.record_add(
        actor=caseworker, case=case, kind="servicerequests", title="SR", shared_with_partners=True
    )
    client.force_login(partner_agent)
    html = client.get(case_url(case)).content.decode()
    assert "Accept case" in html
    assert offered(html, case) <= {"waitlist"}  # no start, complete or could not help
    for tab in ALL_TABS:
        for page in (case_url(case, tab), case_url(case)):
            html = client.get(page).content.decode()
            assert "/add/" not in html, tab
            assert "/status/" not in html, tab


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("complete", {"outcome": "served", "note": "Done."}),
        ("start", {}),
        ("fail", {"reason": "client_declined"}),
        ("resume", {}),
    ],
)
def test_a_pending_agent_cannot_work_the_referral(client, partner_agent, action, data):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    events = case.events.count()
    response = client.post(action_url(case, action), data)
    assert response.status_code == 409
    assert "it is now Pending" in response.content.decode()
    assert referral_of(member).state == State.PENDING
    assert case.events.count() == events


def test_a_pending_agent_cannot_complete_as_could_not_contact(client, partner_agent):
    """Refused either way: the form says why (no contact attempts) or the state forbids it."""
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.post(
        action_url(case, "complete"), {"outcome": "could_not_contact", "note": "Tried."}
    )
    assert response.status_code in (400, 409)
    html = response.content.decode()
    assert CONTACTS_NEEDED in html or "it is now Pending" in html
    assert referral_of(member).state == State.PENDING


# Who may act, and how ----------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_refuses_get(client, accepted, action):
    case, member = accepted
    assert client.get(action_url(case, action)).status_code == 405
    assert referral_of(member).state == State.ACCEPTED


def test_an_unknown_action_is_404(client, accepted):
    case, member = accepted
    for name in ("accept", "decline", "expire", "withdraw", "no-such-action"):
        response = client.post(reverse("portal:referral_action", args=[case.pk, name]))
        assert response.status_code == 404, name
    assert referral_of(member).state == State.ACCEPTED


@pytest.mark.parametrize("who", ["outsider", "partner_colleague"])
def test_other_agents_get_404_on_every_action(client, partner_agent, request, who):
    case, member = refer(partner_agent, accepted=True)
    client.force_login(request.getfixturevalue(who))
    data = {"outcome": "served", "note": "x", "reason": "conflict", "review_on": "2999-01-01"}
    for action in ACTIONS:
        assert client.post(action_url(case, action), data).status_code == 404, action
    assert referral_of(member).state == State.ACCEPTED
    assert not case.events.filter(by_partner=True).exclude(actor=partner_agent).exists()


# The agency closes the case ----------------------------------------------------------------


def test_a_closed_case_leaves_my_cases_and_its_page_is_404(
    client, accepted, partner_agent, agency_manager
):
    case, member = accepted
    client.post(action_url(case, "start"))
    assert f">{case.number}<" in client.get(reverse("portal:my_cases")).content.decode()

    services.case_transition(actor=agency_manager, case=case, name="close")
    assert f">{case.number}<" not in client.get(reverse("portal:my_cases")).content.decode()
    assert client.get(case_url(case)).status_code == 404
    assert (
        client.post(action_url(case, "complete"), {"outcome": "served", "note": "x"}).status_code
        == 404
    )
    referral = referral_of(member)
    assert (referral.state, referral.reason, member.is_active) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.CASE_CLOSED,
        False,
    )


# The intake queue --------------------------------------------------------------------------


@pytest.fixture
def intake_referral(agency_manager, northside):
    case = make_case(status=Case.Status.THIRD_PARTY, name="Okafor Household")
    record_consent(case, northside, actor=agency_manager)
    referral = services.referral_to_organization(
        actor=agency_manager, case=case, organization=northside
    )
    return case, referral


def test_the_partner_manager_assigns_an_intake_referral_to_an_agent(
    client, intake_referral, partner_manager, partner_agent
):
    case, referral = intake_referral
    client.force_login(partner_manager)
    html = client.get(reverse("portal:intake")).content.decode()
    assert case.number in html and "Okafor Household" in html
    assign = reverse("portal:intake_assign", args=[referral.pk])
    assert f'action="{assign}"' in html
    assert f'<option value="{partner_agent.pk}">' in html
    assert f'<option value="{partner_manager.pk}">' not in html  # managers are not assigned

    response = client.post(assign, {"to_user": partner_agent.pk}, follow=True)
    assert response.redirect_chain == [(reverse("portal:intake"), 302)]
    html = response.content.decode()
    assert (
        f"{case.number} is assigned to {partner_agent.get_full_name()}, who has been told by "
        "email. It is due at the same time."
    ) in html
    assert "Nothing waits in your organization's intake queue." in html
    referral.refresh_from_db()
    assert (referral.state, referral.reason) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.REASSIGNED,
    )

    member = CaseTeamMember.objects.get(case=case, user=partner_agent, is_active=True)
    mine = referral_of(member)
    assert (mine.state, mine.agent, mine.replaces, mine.due_at) == (
        State.PENDING,
        partner_agent,
        referral,
        referral.due_at,
    )
    client.force_login(partner_agent)
    my_cases = client.get(reverse("portal:my_cases")).content.decode()
    row = next(r for r in re.findall(r"<tr[^>]*>.*?</tr>", my_cases, re.S) if case.number in r)
    assert ">Pending<" in row
    page = client.get(case_url(case)).content.decode()
    assert "Your referral: Pending" in page
    due = timezone.localtime(referral.due_at)
    assert f'<time datetime="{due.isoformat()}">' in page


def test_assigning_outside_the_organization_is_a_form_error(
    client, intake_referral, partner_manager, partner_agent, outsider
):
    case, referral = intake_referral
    client.force_login(partner_manager)
    response = client.post(
        reverse("portal:intake_assign", args=[referral.pk]), {"to_user": outsider.pk}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    referral.refresh_from_db()
    assert (referral.state, referral.agent) == (State.PENDING, None)
    assert not CaseTeamMember.objects.filter(case=case, user=outsider).exists()


def test_the_intake_queue_is_for_partner_managers_only(
    client, intake_referral, partner_agent, partner_colleague
):
    case, referral = intake_referral
    client.force_login(partner_agent)
    assert client.get(reverse("portal:intake")).status_code == 404
    response = client.post(
        reverse("portal:intake_assign", args=[referral.pk]), {"to_user": partner_colleague.pk}
    )
    assert response.status_code == 404
    referral.refresh_from_db()
    assert (referral.state, referral.agent) == (State.PENDING, None)
    assert client.get(case_url(case)).status_code == 404


def test_intake_assign_refuses_get(client, intake_referral, partner_manager):
    _, referral = intake_referral
    client.force_login(partner_manager)
    assert client.get(reverse("portal:intake_assign", args=[referral.pk])).status_code == 405


def test_an_empty_intake_queue_says_so(client, partner_manager):
    client.force_login(partner_manager)
    response = client.get(reverse("portal:intake"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing waits in your organization's intake queue." in html
    assert "<table" not in html
