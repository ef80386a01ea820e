"""The referral lifecycle: one `Referral` per attempt, each transition's rules, what Close,
Recall and Reopen do to partner work, reassignment and the intake queue as new rows that
replace the old ones, the database constraints, "nothing is stuck", and the data migration
that turned the old team rows into referrals."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from cases import routing, selectors, services
from cases.models import (
    Activity,
    Case,
    CaseEvent,
    CaseGroupObjectPermission,
    CaseTeamMember,
    CaseUserObjectPermission,
    InboxItem,
    Referral,
)
from tests.factories import (
    PartnerAgentFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

State = Referral.State
Verb = CaseEvent.Verb
ConflictError = services.ConflictError


def fresh(referral: Referral) -> Referral:
    return Referral.objects.get(pk=referral.pk)


def verbs_since(case, since: int) -> list[str]:
    return list(case.events.filter(pk__gt=since).order_by("pk").values_list("verb", flat=True))


def last_event_id() -> int:
    last = CaseEvent.objects.order_by("-pk").first()
    return last.pk if last else 0


def object_perms(user, case) -> set[str]:
    return set(
        CaseUserObjectPermission.objects.filter(user=user, content_object=case).values_list(
            "permission__codename", flat=True
        )
    )


def group_perms(organization, case) -> set[str]:
    organization.refresh_from_db()
    return set(
        CaseGroupObjectPermission.objects.filter(
            group_id=organization.managers_group_id, content_object=case
        ).values_list("permission__codename", flat=True)
    )


def in_a_week():
    return timezone.now() + timedelta(days=7)


def log_contacts(*, actor, case, types):
    for n, kind in enumerate(types):
        services.record_add(
            actor=actor, case=case, kind="activities", subject=f"Attempt {n}", type=kind
        )


# Accept, decline, start ---------------------------------------------------------------------


def test_accepting_moves_a_pending_referral_to_accepted_once(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    since = last_event_id()
    accepted = services.referral_accept(actor=partner_agent, referral=member.referral)
    assert (accepted.state, fresh(accepted).state) == (State.ACCEPTED, State.ACCEPTED)
    assert accepted.responded_at is not None
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == State.ACCEPTED
    assert verbs_since(case, since) == [Verb.ACCEPTED]
    with pytest.raises(ConflictError):
        services.referral_accept(actor=partner_agent, referral=accepted)
    with pytest.raises(ConflictError):
        services.referral_decline(actor=partner_agent, referral=accepted, reason="no_capacity")
    assert fresh(accepted).state == State.ACCEPTED


def test_declining_ends_the_referral_with_its_reason_and_tells_the_owner(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    declined = services.referral_decline(
        actor=partner_agent, referral=member.referral, reason="out_of_area"
    )
    declined = fresh(declined)
    assert (declined.state, declined.reason, declined.get_reason_display()) == (
        State.DECLINED,
        "out_of_area",
        "Out of service area",
    )
    assert declined.responded_at is not None and declined.completed_at is not None
    assert not CaseTeamMember.objects.get(pk=member.pk).is_active
    item = InboxItem.objects.get(case=case)
    assert (item.user, item.kind) == (case.owner, InboxItem.Kind.DECLINED)
    assert "Out of service area" in item.text


def test_starting_work_needs_an_accepted_referral(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    with pytest.raises(ConflictError):
        services.referral_start(actor=partner_agent, referral=member.referral)
    assert fresh(member.referral).state == State.PENDING
    services.referral_accept(actor=partner_agent, referral=member.referral)
    since = last_event_id()
    started = services.referral_start(actor=partner_agent, referral=member.referral)
    assert (started.state, fresh(started).state) == (State.IN_PROGRESS, State.IN_PROGRESS)
    assert started.started_at is not None
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == State.IN_PROGRESS
    assert verbs_since(case, since) == [Verb.STARTED]
    with pytest.raises(ConflictError):
        services.referral_start(actor=partner_agent, referral=member.referral)


def test_the_first_record_on_an_accepted_referral_starts_the_work(partner_agent):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    since = last_event_id()
    services.record_add(actor=partner_agent, case=case, kind="notes", body="First visit")
    services.record_add(actor=partner_agent, case=case, kind="notes", body="Second visit")
    assert fresh(member.referral).state == State.IN_PROGRESS
    assert verbs_since(case, since) == [Verb.STARTED, Verb.RECORD_ADDED, Verb.RECORD_ADDED]


def test_only_the_referrals_own_agent_or_its_organizations_manager_answers(
    partner_agent, partner_colleague, outsider, caseworker, partner_manager
):
    _, member = make_referral(agent_user=partner_agent)
    for intruder in (partner_colleague, outsider, caseworker):
        for answer in (services.referral_accept, services.referral_start):
            with pytest.raises(PermissionDenied):
                answer(actor=intruder, referral=member.referral)
        with pytest.raises(PermissionDenied):
            services.referral_waitlist(
                actor=intruder, referral=member.referral, review_at=in_a_week()
            )
    assert fresh(member.referral).state == State.PENDING
    services.referral_waitlist(
        actor=partner_manager, referral=member.referral, review_at=in_a_week()
    )
    assert fresh(member.referral).state == State.WAITLISTED


# Waitlist and resume ------------------------------------------------------------------------


@pytest.mark.parametrize("accepted", [False, True], ids=["pending", "accepted"])
def test_waitlisting_needs_a_review_date_in_the_future(partner_agent, accepted):
    case, member = make_referral(agent_user=partner_agent, accepted=accepted)
    before = fresh(member.referral).state
    for review_at in (None, timezone.now() - timedelta(minutes=1)):
        with pytest.raises(ValidationError):
            services.referral_waitlist(
                actor=partner_agent, referral=member.referral, review_at=review_at
            )
    with pytest.raises(ValidationError):
        services.referral_waitlist(
            actor=partner_agent, referral=member.referral, review_at=in_a_week(), position=0
        )
    assert fresh(member.referral).state == before
    review_at = in_a_week()
    since = last_event_id()
    services.referral_waitlist(
        actor=partner_agent, referral=member.referral, review_at=review_at, position=3
    )
    referral = fresh(member.referral)
    assert (referral.state, referral.review_at, referral.waitlist_position) == (
        State.WAITLISTED,
        review_at,
        3,
    )
    assert referral.responded_at is not None
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == State.WAITLISTED
    assert verbs_since(case, since) == [Verb.WAITLISTED]


def test_a_waitlisted_referral_stops_the_clock_and_never_expires(partner_agent):
    _, member = make_referral(agent_user=partner_agent)
    due_at = member.referral.due_at
    services.referral_waitlist(actor=partner_agent, referral=member.referral, review_at=in_a_week())
    far = due_at + timedelta(days=365)
    assert services.referral_expire(referral=member.referral, now=far) is False
    assert routing.referrals_expire_overdue(now=far)["expired"] == 0
    assert fresh(member.referral).state == State.WAITLISTED
    assert CaseTeamMember.objects.get(pk=member.pk).is_active


def test_resuming_takes_a_waitlisted_referral_back_to_work(partner_agent):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    with pytest.raises(ConflictError):
        services.referral_resume(actor=partner_agent, referral=member.referral)
    services.referral_waitlist(actor=partner_agent, referral=member.referral, review_at=in_a_week())
    since = last_event_id()
    resumed = services.referral_resume(actor=partner_agent, referral=member.referral)
    resumed = fresh(resumed)
    assert (resumed.state, resumed.review_at) == (State.IN_PROGRESS, None)
    assert resumed.started_at is not None
    assert verbs_since(case, since) == [Verb.RESUMED]
    with pytest.raises(ConflictError):
        services.referral_resume(actor=partner_agent, referral=member.referral)


# Complete, fail, expire ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "note"),
    [("", "Done"), ("great", "Done"), ("not_recorded", "Done"), ("served", ""), ("served", "  ")],
)
def test_completing_needs_an_outcome_and_a_note(partner_agent, outcome, note):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    with pytest.raises(ValidationError):
        services.referral_complete(
            actor=partner_agent, referral=member.referral, outcome=outcome, note=note
        )
    assert fresh(member.referral).state == State.ACCEPTED
    assert not InboxItem.objects.filter(case=case).exists()


def test_completing_records_the_outcome_and_tells_the_owner(partner_agent):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    since = last_event_id()
    services.referral_complete(
        actor=partner_agent,
        referral=member.referral,
        outcome="partly_served",
        note="  Rent arrears paid; lease not renewed ",
    )
    done = fresh(member.referral)
    assert (done.state, done.outcome, done.outcome_note) == (
        State.COMPLETED,
        "partly_served",
        "Rent arrears paid; lease not renewed",
    )
    assert done.completed_at is not None
    assert verbs_since(case, since) == [Verb.COMPLETED]
    item = InboxItem.objects.get(case=case)
    assert (item.user, item.kind) == (case.owner, InboxItem.Kind.COMPLETED)


def test_could_not_contact_needs_three_contact_attempts_logged_by_the_partner(
    partner_agent, caseworker
):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    # Two calls by the partner; a meeting and an email are not contact attempts, and the
    # agency's own call is not the partner's.
    log_contacts(actor=partner_agent, case=case, types=["call", "call", "meeting", "email"])
    services.record_add(actor=caseworker, case=case, kind="activities", subject="x", type="call")
    assert services.contact_attempts(referral=member.referral).count() == 2
    with pytest.raises(ValidationError, match="2 logged so far"):
        services.referral_complete(
            actor=partner_agent,
            referral=member.referral,
            outcome="could_not_contact",
            note="No answer",
        )
    assert fresh(member.referral).state == State.IN_PROGRESS
    log_contacts(actor=partner_agent, case=case, types=["letter"])
    services.referral_complete(
        actor=partner_agent, referral=member.referral, outcome="could_not_contact", note="None"
    )
    assert fresh(member.referral).outcome == Referral.Outcome.COULD_NOT_CONTACT


def test_contact_attempts_of_an_earlier_referral_do_not_count(agency_manager, partner_agent):
    case, _ = make_referral(agent_user=partner_agent, accepted=True)
    log_contacts(actor=partner_agent, case=case, types=["call", "visit", "letter"])
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    again = services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    services.referral_accept(actor=partner_agent, referral=again.referral)
    assert services.contact_attempts(referral=again.referral).count() == 0
    with pytest.raises(ValidationError):
        services.referral_complete(
            actor=partner_agent, referral=again.referral, outcome="could_not_contact", note="x"
        )


@pytest.mark.parametrize("start", ["accepted", "in_progress", "waitlisted"])
def test_could_not_help_needs_a_coded_reason_and_goes_to_the_owners_inbox(partner_agent, start):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    if start == "in_progress":
        services.referral_start(actor=partner_agent, referral=member.referral)
    elif start == "waitlisted":
        services.referral_waitlist(
            actor=partner_agent, referral=member.referral, review_at=in_a_week()
        )
    for reason, note in (("", ""), ("no_capacity", "x"), ("other", " ")):
        with pytest.raises(ValidationError):
            services.referral_fail(
                actor=partner_agent, referral=member.referral, reason=reason, note=note
            )
    assert fresh(member.referral).state == start
    since = last_event_id()
    services.referral_fail(
        actor=partner_agent, referral=member.referral, reason="client_declined", note="Moved"
    )
    failed = fresh(member.referral)
    assert (failed.state, failed.reason, failed.reason_note) == (
        State.COULD_NOT_HELP,
        "client_declined",
        "Moved",
    )
    assert failed.get_reason_display() == "Client declined the service"
    assert verbs_since(case, since) == [Verb.COULD_NOT_HELP]
    item = InboxItem.objects.get(case=case)
    assert (item.user, item.kind) == (case.owner, InboxItem.Kind.FAILED)


def test_a_pending_referral_cannot_fail(partner_agent):
    _, member = make_referral(agent_user=partner_agent)
    with pytest.raises(ConflictError):
        services.referral_fail(actor=partner_agent, referral=member.referral, reason="conflict")
    assert fresh(member.referral).state == State.PENDING


def test_a_referral_expires_only_once_its_due_time_has_passed(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    due_at = member.referral.due_at
    assert due_at > timezone.now()
    assert services.referral_expire(referral=member.referral) is False  # now: not yet due
    early = due_at - timedelta(seconds=1)
    assert services.referral_expire(referral=member.referral, now=early) is False
    assert fresh(member.referral).state == State.PENDING
    assert CaseTeamMember.objects.get(pk=member.pk).is_active
    assert not case.events.filter(verb=Verb.EXPIRED).exists()
    assert services.referral_expire(referral=member.referral, now=due_at) is True
    expired = fresh(member.referral)
    assert (expired.state, expired.completed_at) == (State.EXPIRED, due_at)
    assert not CaseTeamMember.objects.get(pk=member.pk).is_active


def test_the_due_time_is_counted_in_the_organizations_business_hours(partner_agent, northside):
    _, member = make_referral(agent_user=partner_agent)
    referral = member.referral
    assert referral.response_hours == northside.default_response_hours
    assert referral.due_at == services.referral_due_at(
        organization=northside, hours=referral.response_hours, start=referral.requested_at
    )
    # Business hours never run faster than the clock.
    assert referral.due_at - referral.requested_at >= timedelta(hours=referral.response_hours)


# Close, recall, reopen ----------------------------------------------------------------------


def test_closing_withdraws_open_referrals_revokes_access_and_reopening_gives_nothing_back(
    agency_manager, partner_agent, partner_colleague, partner_manager, northside
):
    case, working = make_referral(agent_user=partner_agent, accepted=True)
    pending = services.case_team_add(actor=agency_manager, case=case, user=partner_colleague)
    assert selectors.memberships_for_partner(user=partner_agent).filter(case=case).exists()
    assert selectors.memberships_for_partner(user=partner_manager).filter(case=case).count() == 2
    since = last_event_id()
    services.case_transition(actor=agency_manager, case=case, name="close")
    assert verbs_since(case, since) == [Verb.TRANSITION, Verb.WITHDRAWN, Verb.WITHDRAWN]
    for member in (working, pending):
        referral = fresh(member.referral)
        assert (referral.state, referral.reason) == (
            State.WITHDRAWN,
            Referral.WithdrawReason.CASE_CLOSED,
        )
        member = CaseTeamMember.objects.get(pk=member.pk)
        assert (member.referral_state, member.is_active) == (State.WITHDRAWN, False)
        assert object_perms(member.user, case) == set()
        assert not member.user.has_perm("cases.view_case", case)
    assert group_perms(northside, case) == set()
    for user in (partner_agent, partner_colleague, partner_manager):
        assert not selectors.memberships_for_partner(user=user).filter(case=case).exists()
        assert not selectors.cases_for_partner_agent(user=user).filter(pk=case.pk).exists()

    services.case_transition(actor=agency_manager, case=case, name="reopen")
    assert Case.objects.get(pk=case.pk).status == Case.Status.OPEN
    assert not case.referrals.filter(state__in=Referral.OPEN_STATES).exists()
    assert not case.team.filter(role="partner_agent", is_active=True).exists()
    for user in (partner_agent, partner_colleague):
        assert object_perms(user, case) == set()
        assert not selectors.memberships_for_partner(user=user).exists()
    assert group_perms(northside, case) == set()


def test_a_closed_case_accepts_no_partner_record(agency_manager, partner_agent, private_storage):
    case, _ = make_referral(agent_user=partner_agent, accepted=True)
    record = services.record_add(
        actor=agency_manager,
        case=case,
        kind="servicerequests",
        title="Ledger",
        shared_with_partners=True,
    )
    services.case_transition(actor=agency_manager, case=case, name="close")
    case = Case.objects.get(pk=case.pk)
    with pytest.raises(ValidationError):
        services.record_add(actor=partner_agent, case=case, kind="notes", body="Late note")
    with pytest.raises(ValidationError):
        services.attachment_add(
            actor=partner_agent, case=case, upload=ContentFile(b"hello", name="late.txt")
        )
    with pytest.raises(ValidationError):
        services.record_update(actor=partner_agent, record=record, status="resolved")
    assert not case.notes.exists() and not case.attachments.exists()
    record.refresh_from_db()
    assert record.status == "open"
    assert not any(p.is_file() for p in private_storage.rglob("*"))


def test_a_caseworker_may_neither_close_nor_recall_a_third_party_case(
    caseworker, agency_manager, partner_agent, northside
):
    """Closing a Third-Party case withdraws its referral, as a recall does: a caseworker,
    who may not recall, may not close it either; an approved case they may still close."""
    case, member = make_referral(agent_user=partner_agent)
    assert services.available_transitions(user=caseworker, case=case) == []
    for name in ("recall", "close"):
        with pytest.raises(PermissionDenied):
            services.case_transition(actor=caseworker, case=case, name=name)
    assert Case.objects.get(pk=case.pk).status == Case.Status.THIRD_PARTY
    assert fresh(member.referral).state == State.PENDING
    assert object_perms(partner_agent, case) != set()
    approved = make_case(status=Case.Status.APPROVED)
    assert ("close", "Close Case") in services.available_transitions(user=caseworker, case=approved)
    closed = services.case_transition(actor=agency_manager, case=case, name="close")
    assert closed.status == Case.Status.CLOSED
    withdrawn = fresh(member.referral)
    assert (withdrawn.state, withdrawn.reason) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.CASE_CLOSED,
    )
    assert object_perms(partner_agent, case) == set() and group_perms(northside, case) == set()
    assert case.events.get(verb=Verb.WITHDRAWN).actor == agency_manager


def test_recalling_withdraws_the_referrals_with_the_recall_reason(agency_manager, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    services.referral_waitlist(actor=partner_agent, referral=member.referral, review_at=in_a_week())
    services.case_transition(actor=agency_manager, case=case, name="recall")
    referral = fresh(member.referral)
    assert (referral.state, referral.reason) == (State.WITHDRAWN, "recalled")
    assert referral.get_reason_display() == "The agency recalled the referral"
    assert not selectors.memberships_for_partner(user=partner_agent).exists()


# Records need an accepted referral ----------------------------------------------------------


def test_a_pending_agent_cannot_record_work(partner_agent, private_storage):
    case, member = make_referral(agent_user=partner_agent)
    message = "Your referral is pending: accept it before you record work."
    with pytest.raises(ValidationError, match=message):
        services.record_add(actor=partner_agent, case=case, kind="notes", body="Too early")
    with pytest.raises(ValidationError, match=message):
        services.record_add(
            actor=partner_agent, case=case, kind="activities", subject="Call", type="call"
        )
    with pytest.raises(ValidationError, match=message):
        services.attachment_add(
            actor=partner_agent, case=case, upload=ContentFile(b"hello", name="early.txt")
        )
    assert not case.notes.exists() and not Activity.objects.filter(case=case).exists()
    assert not case.attachments.exists()
    assert fresh(member.referral).state == State.PENDING
    assert not any(p.is_file() for p in private_storage.rglob("*"))


@pytest.mark.parametrize("end", ["completed", "waitlisted"])
def test_a_referral_that_is_not_being_worked_takes_no_records(partner_agent, end):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    if end == "completed":
        services.referral_complete(
            actor=partner_agent, referral=member.referral, outcome="served", note="Done"
        )
    else:
        services.referral_waitlist(
            actor=partner_agent, referral=member.referral, review_at=in_a_week()
        )
    with pytest.raises(ValidationError):
        services.record_add(actor=partner_agent, case=case, kind="notes", body="More")
    assert not case.notes.exists()


# Reassignment and the intake queue ----------------------------------------------------------


def test_reassigning_a_pending_referral_keeps_its_due_time_in_a_new_row_that_replaces_it(
    partner_agent, partner_colleague, partner_manager
):
    case, member = make_referral(agent_user=partner_agent)
    old = fresh(member.referral)
    moved = services.referral_reassign(
        actor=partner_manager, referral=old, to_user=partner_colleague
    )
    new = moved.referral
    assert new.pk != old.pk and new.replaces_id == old.pk
    assert (new.agent, new.state, new.due_at) == (partner_colleague, State.PENDING, old.due_at)
    assert new.response_hours == old.response_hours
    # The old row is history: still the first agent's, requested when it was, withdrawn.
    kept = fresh(old)
    assert (kept.agent, kept.requested_at, kept.due_at) == (
        partner_agent,
        old.requested_at,
        old.due_at,
    )
    assert (kept.state, kept.reason) == (State.WITHDRAWN, Referral.WithdrawReason.REASSIGNED)
    assert kept.replaced_by == new
    assert case.referrals.count() == 2
    event = case.events.get(verb=Verb.REASSIGNED)
    assert event.data["kept_deadline"] is True


def test_reassigning_an_accepted_referral_opens_a_new_window(
    partner_agent, partner_colleague, partner_manager
):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    old = fresh(member.referral)
    before = timezone.now()
    moved = services.referral_reassign(
        actor=partner_manager, referral=old, to_user=partner_colleague
    )
    new = moved.referral
    assert (new.state, new.replaces_id) == (State.PENDING, old.pk)
    assert new.requested_at >= before and new.due_at > new.requested_at
    assert fresh(old).state == State.WITHDRAWN
    assert case.events.get(verb=Verb.REASSIGNED).data["kept_deadline"] is False


def test_a_referral_to_an_organization_waits_in_intake_until_its_manager_assigns_it(
    agency_manager, partner_agent, partner_colleague, partner_manager, northside, outsider
):
    case = make_case(status=Case.Status.THIRD_PARTY)
    record_consent(case, northside)
    with pytest.raises(PermissionDenied):
        services.referral_to_organization(actor=partner_manager, case=case, organization=northside)
    intake = services.referral_to_organization(
        actor=agency_manager, case=case, organization=northside, response_hours=8
    )
    assert (intake.agent, intake.state, intake.response_hours) == (None, State.PENDING, 8)
    assert intake.due_at > timezone.now()
    assert case.case_partners.get().partner == northside
    with pytest.raises(ValidationError):
        services.referral_to_organization(actor=agency_manager, case=case, organization=northside)
    # The managers see the case; its agents and other organizations do not, yet.
    assert list(selectors.cases_for_partner_agent(user=partner_manager)) == [case]
    assert not selectors.cases_for_partner_agent(user=partner_agent).exists()
    assert not outsider.has_perm("cases.view_case", case)
    for actor in (partner_agent, agency_manager, outsider):
        with pytest.raises(PermissionDenied):
            services.referral_assign(actor=actor, referral=intake, to_user=partner_colleague)
    with pytest.raises(ValidationError):
        services.referral_assign(actor=partner_manager, referral=intake, to_user=outsider)

    member = services.referral_assign(
        actor=partner_manager, referral=intake, to_user=partner_colleague
    )
    assigned = member.referral
    assert (member.user, member.is_active, member.referral_state) == (
        partner_colleague,
        True,
        State.PENDING,
    )
    assert (assigned.agent, assigned.replaces_id, assigned.due_at) == (
        partner_colleague,
        intake.pk,
        intake.due_at,
    )
    assert (fresh(intake).state, fresh(intake).reason) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.REASSIGNED,
    )
    assert selectors.memberships_for_partner(user=partner_colleague).get().case == case
    assert partner_colleague.has_perm("cases.work_case", case)
    with pytest.raises(ConflictError):
        services.referral_assign(actor=partner_manager, referral=intake, to_user=partner_agent)
    # The assigned agent answers it like any referral.
    services.referral_accept(actor=partner_colleague, referral=assigned)
    assert fresh(assigned).state == State.ACCEPTED


def test_an_unassigned_intake_referral_expires_and_the_managers_lose_the_case(
    agency_manager, partner_manager, northside
):
    case = make_case(status=Case.Status.THIRD_PARTY)
    record_consent(case, northside)
    intake = services.referral_to_organization(
        actor=agency_manager, case=case, organization=northside
    )
    assert partner_manager.has_perm("cases.view_case", case)
    assert services.referral_expire(referral=intake, now=intake.due_at) is True
    assert fresh(intake).state == State.EXPIRED
    assert group_perms(northside, case) == set()
    assert not selectors.cases_for_partner_agent(user=partner_manager).exists()


# The database keeps the rules --------------------------------------------------------------


def test_the_database_makes_a_pending_referral_without_a_due_time_impossible(
    partner_agent, northside
):
    case = make_case(status=Case.Status.THIRD_PARTY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(case=case, organization=northside, agent=partner_agent)
    _, member = make_referral(agent_user=partner_agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.filter(pk=member.referral_id).update(due_at=None)
    assert fresh(member.referral).due_at is not None


@pytest.mark.parametrize(
    ("fields", "fixed"),
    [
        ({"state": State.WAITLISTED}, {"review_at": timezone.now()}),
        ({"state": State.COMPLETED}, {"outcome": "served"}),
        ({"state": State.ACCEPTED, "agent": None}, {"agent": "agent"}),
    ],
    ids=["waitlisted-without-review", "completed-without-outcome", "accepted-without-agent"],
)
def test_the_database_rejects_a_referral_that_breaks_its_state_rules(
    partner_agent, northside, fields, fixed
):
    case = make_case(status=Case.Status.THIRD_PARTY)
    base = {"case": case, "organization": northside, "agent": partner_agent}
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(**{**base, **fields})
    fixed = {k: partner_agent if v == "agent" else v for k, v in fixed.items()}
    Referral.objects.create(**{**base, **fields, **fixed})


def test_the_database_allows_one_open_referral_per_agent_and_case(partner_agent, northside):
    case, _ = make_referral(agent_user=partner_agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(
            case=case, organization=northside, agent=partner_agent, due_at=timezone.now()
        )
    assert case.referrals.count() == 1


# Nothing is stuck ---------------------------------------------------------------------------


def test_nothing_is_stuck_every_referral_is_due_reviewed_worked_or_back_with_someone(
    agency_manager, northside, django_capture_on_commit_callbacks
):
    """Walk every state, each on its own case, then check every referral: an open one is
    due (pending), has a review date (waitlisted) or is being worked by an agent on the team
    (accepted, in progress); an ended one without a replacement (declined, expired, could
    not help) put an item in the case owner's Inbox."""
    agents = [
        PartnerAgentFactory(user=UserFactory(username=f"walker{n}"), organization=northside).user
        for n in range(9)
    ]
    manager = PartnerAgentFactory(
        user=UserFactory(username="walk-manager"), organization=northside, role="manager"
    ).user
    walked = {}

    def referral_in(state, agent):
        case, member = make_referral(agent_user=agent, actor=agency_manager)
        referral = member.referral
        if state in (State.ACCEPTED, State.IN_PROGRESS, State.COMPLETED, State.COULD_NOT_HELP):
            services.referral_accept(actor=agent, referral=referral)
        if state == State.IN_PROGRESS:
            services.referral_start(actor=agent, referral=referral)
        elif state == State.WAITLISTED:
            services.referral_waitlist(actor=agent, referral=referral, review_at=in_a_week())
        elif state == State.COMPLETED:
            services.referral_complete(actor=agent, referral=referral, outcome="served", note="x")
        elif state == State.COULD_NOT_HELP:
            services.referral_fail(actor=agent, referral=referral, reason="service_unavailable")
        elif state == State.DECLINED:
            with django_capture_on_commit_callbacks(execute=True):
                services.referral_decline(actor=agent, referral=referral, reason="no_capacity")
        elif state == State.EXPIRED:
            with django_capture_on_commit_callbacks(execute=True):
                counts = routing.referrals_expire_overdue(now=referral.due_at, ids=[referral.pk])
            assert counts["expired"] == 1
        elif state == State.WITHDRAWN:
            services.case_transition(actor=agency_manager, case=case, name="close")
        walked[state] = fresh(referral)

    for state, agent in zip(State.values, agents, strict=True):
        referral_in(state, agent)
    # And the other ways in: an intake referral, and a reassigned one that replaced another.
    intake_case = make_case(status=Case.Status.THIRD_PARTY, actor=agency_manager)
    record_consent(intake_case, northside, actor=agency_manager)
    services.referral_to_organization(
        actor=agency_manager, case=intake_case, organization=northside
    )
    _, member = make_referral(agent_user=agents[0], actor=agency_manager)
    services.referral_reassign(actor=manager, referral=member.referral, to_user=agents[1])

    assert {state: r.state for state, r in walked.items()} == {s: s for s in State.values}
    referrals = Referral.objects.select_related("case").order_by("pk")
    assert referrals.count() == len(State.values) + 3
    now = timezone.now()
    for referral in referrals:
        if referral.state == State.PENDING:
            assert referral.due_at is not None and referral.due_at > now, referral
        elif referral.state == State.WAITLISTED:
            assert referral.review_at is not None and referral.review_at > now, referral
        elif referral.state in Referral.WORKING_STATES:
            member = CaseTeamMember.objects.get(referral=referral)
            assert member.is_active and member.user == referral.agent, referral
            assert referral.agent.has_perm("cases.work_case", referral.case), referral
        elif referral.state in (State.DECLINED, State.EXPIRED, State.COULD_NOT_HELP):
            replaced = Referral.objects.filter(replaces=referral).exists()
            told = InboxItem.objects.filter(
                case=referral.case, user=referral.case.owner, done_at__isnull=True
            ).exists()
            assert replaced or told, referral
        else:
            assert referral.state in (State.COMPLETED, State.WITHDRAWN), referral
            assert referral.completed_at is not None, referral
    assert {
        (item.case_id, item.kind)
        for item in InboxItem.objects.filter(
            case__in=[walked[s].case for s in (State.DECLINED, State.EXPIRED, State.COULD_NOT_HELP)]
        )
    } >= {
        (walked[State.DECLINED].case_id, InboxItem.Kind.DECLINED),
        (walked[State.EXPIRED].case_id, InboxItem.Kind.ESCALATED),
        (walked[State.COULD_NOT_HELP].case_id, InboxItem.Kind.FAILED),
    }


# The data migration -------------------------------------------------------------------------

BEFORE = ("cases", "0009_case_sort_indexes")
AFTER = ("cases", "0010_referral")


def migrate_to(*targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(list(targets))
    return executor


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_makes_one_referral_per_partner_row_in_its_state(
    northside, partner_agent, partner_colleague, partner_manager, agency_manager
):
    agents = [partner_agent, partner_colleague] + [
        PartnerAgentFactory(user=UserFactory(username=f"old{n}"), organization=northside).user
        for n in range(4)
    ]
    try:
        executor = migrate_to(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        OldCase = old.get_model("cases", "Case")
        OldMember = old.get_model("cases", "CaseTeamMember")
        OldProgram = old.get_model("cases", "Program")
        program = OldProgram.objects.create(code="OLD", name="Old program")
        case = OldCase.objects.create(
            number="CASE-2020-000001",
            name="Old household",
            applicant_name="Old applicant",
            owner_id=agency_manager.pk,
            program_id=program.pk,
            status="third_party",
        )
        expires = timezone.now() + timedelta(hours=5)
        answered = timezone.now() - timedelta(hours=2)
        rows = {
            "pending-due": {"referral_state": "pending", "expires_at": expires},
            "pending-undated": {"referral_state": "pending"},
            "accepted": {"referral_state": "accepted", "responded_at": answered},
            "declined": {
                "referral_state": "declined",
                "responded_at": answered,
                "decline_reason": "no_capacity",
                "decline_note": "Full until spring",
                "is_active": False,
            },
            "completed": {"referral_state": "completed", "responded_at": answered},
            "withdrawn": {"referral_state": "withdrawn", "is_active": False},
        }
        members = {}
        for (key, fields), agent in zip(rows.items(), agents, strict=True):
            members[key] = OldMember.objects.create(
                case_id=case.pk,
                user_id=agent.pk,
                role="partner_agent",
                organization_id=northside.pk,
                added_by_id=agency_manager.pk,
                **fields,
            )
        owner_row = OldMember.objects.create(
            case_id=case.pk, user_id=agency_manager.pk, role="owner"
        )

        executor = migrate_to(AFTER)
        new = executor.loader.project_state(AFTER).apps
        NewReferral = new.get_model("cases", "Referral")
        NewMember = new.get_model("cases", "CaseTeamMember")
        assert NewReferral.objects.count() == len(rows)
        assert NewMember.objects.get(pk=owner_row.pk).referral_id is None
        got = {}
        for key, old_member in members.items():
            member = NewMember.objects.get(pk=old_member.pk)
            referral = NewReferral.objects.get(pk=member.referral_id)
            assert (referral.case_id, referral.agent_id, referral.organization_id) == (
                case.pk,
                old_member.user_id,
                northside.pk,
            )
            assert member.referral_state == referral.state == rows[key]["referral_state"]
            assert referral.requested_at == old_member.added_at
            got[key] = referral
        assert got["pending-due"].due_at == expires
        assert got["pending-undated"].due_at == members["pending-undated"].added_at + timedelta(
            hours=48
        )
        assert (got["accepted"].responded_at, got["accepted"].completed_at) == (answered, None)
        declined = got["declined"]
        assert (declined.reason, declined.reason_note, declined.completed_at) == (
            "no_capacity",
            "Full until spring",
            answered,
        )
        assert (got["completed"].outcome, got["completed"].reason) == ("not_recorded", "")
        assert got["withdrawn"].reason == "other"
        for key in ("pending-due", "pending-undated", "accepted", "declined", "withdrawn"):
            assert got[key].outcome == "", key
    finally:
        migrate_to_latest()
    assert Referral.objects.count() == len(rows)


# Back with the owner ------------------------------------------------------------------------

FAR_FUTURE = timezone.now() + timedelta(days=365)


def _escalate(member) -> Referral:
    """The agent never answers and no rule has a next candidate: back to the owner."""
    routing.referrals_expire_overdue(now=FAR_FUTURE, ids=[member.referral_id])
    return Referral.objects.get(pk=member.referral_id)


def test_an_escalated_referral_waits_with_the_owner_until_the_case_is_referred_again(
    agency_manager, partner_agent, partner_colleague
):
    case, member = make_referral(agent_user=partner_agent, actor=agency_manager)
    lapsed = _escalate(member)
    assert lapsed.escalated_at is not None and lapsed.with_owner
    services.case_team_add(actor=agency_manager, case=case, user=partner_colleague)
    lapsed.refresh_from_db()
    assert not lapsed.with_owner and lapsed.escalated_at is not None


def test_closing_the_case_ends_the_wait_with_the_owner(agency_manager, partner_agent):
    case, member = make_referral(agent_user=partner_agent, actor=agency_manager)
    lapsed = _escalate(member)
    services.case_transition(actor=agency_manager, case=case, name="close")
    lapsed.refresh_from_db()
    assert not lapsed.with_owner


def test_only_an_escalated_referral_can_wait_with_the_owner(agency_manager, partner_agent):
    _case, member = make_referral(agent_user=partner_agent, actor=agency_manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.filter(pk=member.referral_id).update(with_owner=True)


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_the_latest_escalation_of_each_waiting_case_and_no_other(
    agency_manager, partner_agent, partner_colleague, outsider
):
    waiting_case, first = make_referral(agent_user=partner_agent, actor=agency_manager)
    older = _escalate(first)
    record_consent(waiting_case, outsider.partner_agent.organization, actor=agency_manager)
    again = services.case_team_add(actor=agency_manager, case=waiting_case, user=outsider)
    newer = _escalate(again)
    rerouted_case, member = make_referral(agent_user=partner_agent, actor=agency_manager)
    rerouted = _escalate(member)
    services.case_team_add(actor=agency_manager, case=rerouted_case, user=partner_colleague)
    closed_case, member = make_referral(agent_user=partner_colleague, actor=agency_manager)
    closed = _escalate(member)
    services.case_transition(actor=agency_manager, case=closed_case, name="close")
    try:
        migrate_to(("cases", "0013_stamp_fields"))
        migrate_to_latest()
        marked = set(Referral.objects.filter(with_owner=True).values_list("pk", flat=True))
        assert marked == {newer.pk}
        assert {older.pk, rerouted.pk, closed.pk}.isdisjoint(marked)
    finally:
        migrate_to_latest()
