"""Referral emails: queued with the change (a rollback sends nothing), case number and a
link only, never the Case Name, the applicant or an internal field."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings

from cases import notifications, routing, services
from cases.models import Case, CaseTeamMember
from cases.routing import services as routing_services
from tests.factories import (
    PartnerAgentFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = pytest.mark.django_db

SECRETS = {
    "name": "Household of Zebulon Quartermaine",
    "applicant_name": "Zebulon Quartermaine",
    "applicant_email": "zebulon@example.net",
    "applicant_phone": "555-0199",
    "household_income": Decimal("1234.56"),
    "applicant_identifier": "SSN-987-65-4321",
    "eligibility_notes": "Sentinel eligibility note",
    "summary": "Sentinel summary for the partner",
}
SENTINELS = ("Zebulon", "Quartermaine", "zebulon@", "555-0199", "1234.56", "987-65", "Sentinel")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SITE_URL = "https://caseworks.example.gov"


@pytest.fixture
def owner(db):
    return UserFactory(username="owner", email="owner@agency.example", roles=["Agency Manager"])


@pytest.fixture
def referral(partner_agent, owner):
    """A pending referral of a case full of personal and internal data, not yet committed
    as far as on_commit is concerned (the client's consent for the agent's organization
    recorded)."""
    case = make_case(
        status=Case.Status.THIRD_PARTY,
        owner=owner,
        actor=owner,
        program=ProgramFactory(),
        **SECRETS,
    )
    record_consent(case, partner_agent.partner_agent.organization, actor=owner)
    return case, partner_agent


def assert_no_personal_data(message):
    text = "\n".join([message.subject, message.body])
    for sentinel in SENTINELS:
        assert sentinel not in text, sentinel


def test_the_assignment_email_waits_for_the_commit(
    referral, mailoutbox, django_capture_on_commit_callbacks
):
    case, agent_user = referral
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.case_team_add(actor=case.owner, case=case, user=agent_user, response_hours=48)
    assert mailoutbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mailoutbox) == 1


def test_the_assignment_email_has_the_number_and_portal_link_and_no_personal_data(
    referral, mailoutbox, django_capture_on_commit_callbacks
):
    case, agent_user = referral
    with django_capture_on_commit_callbacks(execute=True):
        services.case_team_add(actor=case.owner, case=case, user=agent_user, response_hours=48)
    (message,) = mailoutbox
    assert message.to == [agent_user.email]
    assert case.number in message.subject
    assert f"https://caseworks.example.gov/portal/cases/{case.pk}/" in message.body
    assert "Please accept or decline it by" in message.body
    assert_no_personal_data(message)


def test_a_rolled_back_assignment_sends_nothing(
    referral, mailoutbox, django_capture_on_commit_callbacks
):
    case, agent_user = referral
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.case_team_add(actor=case.owner, case=case, user=agent_user)
        raise RuntimeError("something later in the same change failed")
    assert callbacks == []
    assert mailoutbox == []
    assert not case.team.filter(user=agent_user).exists()


@pytest.mark.django_db(transaction=True)
def test_with_real_transactions_only_the_committed_assignment_sends_an_email(
    partner_agent, mailoutbox
):
    owner = UserFactory(username="owner", email="owner@agency.example", roles=["Agency Manager"])
    case = make_case(status=Case.Status.THIRD_PARTY, owner=owner, actor=owner, **SECRETS)
    record_consent(case, partner_agent.partner_agent.organization, actor=owner)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.case_team_add(actor=owner, case=case, user=partner_agent)
        raise RuntimeError
    assert mailoutbox == []
    services.case_team_add(actor=owner, case=case, user=partner_agent)
    assert [m.to for m in mailoutbox] == [[partner_agent.email]]


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}})
def test_with_the_database_queue_the_task_is_written_in_the_same_transaction(referral):
    from django_tasks_db.models import DBTaskResult

    case, agent_user = referral
    with pytest.raises(RuntimeError), transaction.atomic():
        services.case_team_add(actor=case.owner, case=case, user=agent_user)
        assert DBTaskResult.objects.count() == 1
        raise RuntimeError
    assert DBTaskResult.objects.count() == 0
    member = services.case_team_add(actor=case.owner, case=case, user=agent_user)
    task = DBTaskResult.objects.get()
    assert task.task_path == "cases.tasks.send_notification"
    # Ids only: nothing personal waits in the queue.
    assert task.args_kwargs == {
        "args": [],
        "kwargs": {"kind": "assignment", "referral_id": member.referral_id},
    }


@pytest.mark.parametrize("what", ["accepted", "declined", "expired"])
def test_the_case_owner_hears_of_accept_decline_and_expiry(
    referral, mailoutbox, django_capture_on_commit_callbacks, what
):
    case, agent_user = referral
    member = services.case_team_add(actor=case.owner, case=case, user=agent_user)
    with django_capture_on_commit_callbacks(execute=True):
        if what == "accepted":
            services.referral_accept(actor=agent_user, referral=member.referral)
        elif what == "declined":
            services.referral_decline(
                actor=agent_user,
                referral=member.referral,
                reason="other",
                note="Zebulon moved away",
            )
        else:
            assert services.referral_expire(referral=member.referral, now=member.referral.due_at)
    owner_mail = [m for m in mailoutbox if m.to == ["owner@agency.example"]]
    assert len(owner_mail) == 1
    (message,) = owner_mail
    assert case.number in message.subject
    assert what in message.subject.lower()
    assert f"https://caseworks.example.gov/cases/{case.pk}/" in message.body
    assert agent_user.get_full_name() in message.body
    assert_no_personal_data(message)


def test_the_case_owner_is_told_of_an_escalation(
    northside, owner, mailoutbox, django_capture_on_commit_callbacks
):
    only = PartnerAgentFactory(
        user=UserFactory(username="solo"), organization=northside, languages=["en"]
    )
    routing_services.assignment_rule_create(
        actor=None,
        name="Northside",
        organizations=[northside],
        match_program=False,
        match_language=False,
        response_window_hours=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        # The client's consent for Northside is recorded before the case is referred (and
        # routed).
        case = make_case(status=Case.Status.APPROVED, owner=owner, actor=owner, **SECRETS)
        record_consent(case, northside, actor=owner)
        case = services.case_transition(actor=owner, case=case, name="refer")
    member = case.team.get(user=only.user)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        routing.referrals_expire_overdue(now=member.referral.due_at)
    subjects = sorted(m.subject for m in mailoutbox)
    assert subjects == [
        f"Action needed: case {case.number} is back with you",
        f"Referral expired: {case.number}",
    ]
    escalation = next(m for m in mailoutbox if m.subject.startswith("Action needed"))
    assert escalation.to == ["owner@agency.example"]
    assert "nobody else can take the case" in escalation.body
    assert_no_personal_data(escalation)


def test_no_assignment_email_goes_out_for_a_referral_withdrawn_before_sending(
    partner_agent, mailoutbox
):
    case, member = make_referral(agent_user=partner_agent)
    services.case_team_remove(actor=case.owner, case=case, user=partner_agent)
    assert notifications.deliver(kind="assignment", referral_id=member.referral_id) is False
    assert mailoutbox == []


def test_nothing_is_sent_to_somebody_without_an_address(partner_agent, mailoutbox):
    partner_agent.email = ""
    partner_agent.save(update_fields=["email"])
    _case, member = make_referral(agent_user=partner_agent)
    assert notifications.deliver(kind="assignment", referral_id=member.referral_id) is False
    assert CaseTeamMember.objects.filter(pk=member.pk, referral_state="pending").exists()
