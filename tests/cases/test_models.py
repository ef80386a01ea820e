"""Model-level invariants: the FSM guards the status, the database guards the rules that
must hold whoever writes (services, admin, a shell), and the event trail is append-only."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import (
    Activity,
    Attachment,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Note,
    Referral,
    ServiceRequest,
    attachment_upload_to,
)
from tests.factories import PartnerOrganizationFactory, make_case, make_referral

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

Status = Case.Status


def test_the_status_cannot_be_assigned_directly_on_a_case():
    case = make_case()
    with pytest.raises(AttributeError):
        case.status = Status.APPROVED
    assert Case.objects.get(pk=case.pk).status == Status.OPEN


def test_the_referral_state_cannot_be_assigned_directly_on_a_referral(partner_agent):
    _, member = make_referral(agent_user=partner_agent)
    referral = member.referral
    with pytest.raises(AttributeError):
        referral.state = Referral.State.ACCEPTED
    assert Referral.objects.get(pk=referral.pk).state == Referral.State.PENDING
    # The team row only holds a copy of the state, kept by the referral services.
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == Referral.State.PENDING


@pytest.mark.parametrize(
    ("name", "sources", "target", "permission"),
    [
        ("approve", {Status.OPEN}, Status.APPROVED, "cases.approve_case"),
        ("deny", {Status.OPEN}, Status.DENIED, "cases.deny_case"),
        ("refer", {Status.APPROVED}, Status.THIRD_PARTY, "cases.refer_case"),
        ("recall", {Status.THIRD_PARTY}, Status.APPROVED, "cases.recall_case"),
        (
            "close",
            {Status.APPROVED, Status.DENIED, Status.THIRD_PARTY},
            Status.CLOSED,
            "cases.close_case",
        ),
        ("reopen", {Status.CLOSED}, Status.OPEN, "cases.reopen_case"),
    ],
)
def test_each_case_transition_declares_its_sources_target_and_permission(
    name, sources, target, permission
):
    transitions = list(Case._meta.get_field("status").get_all_transitions(Case))
    mine = [t for t in transitions if t.name == name]
    assert {t.source for t in mine} == sources
    assert {t.target for t in mine} == {target}
    assert {t.permission for t in mine} == {permission}


def test_every_transition_names_a_permission_that_exists():
    from django.contrib.auth.models import Permission

    transitions = Case._meta.get_field("status").get_all_transitions(Case)
    for transition in transitions:
        app_label, codename = transition.permission.split(".")
        assert Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).exists(), transition.permission


def test_the_database_rejects_a_second_primary_partner_on_a_case(agency_manager):
    case = make_case(actor=agency_manager)
    first, second = PartnerOrganizationFactory(), PartnerOrganizationFactory()
    CasePartner.objects.create(case=case, partner=first, is_primary=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        CasePartner.objects.create(case=case, partner=second, is_primary=True)
    # Non-primary partners are fine, and another case has its own primary.
    CasePartner.objects.create(case=case, partner=second, is_primary=False)
    CasePartner.objects.create(case=make_case(actor=agency_manager), partner=first, is_primary=True)


def test_the_database_rejects_the_same_partner_twice_on_a_case(agency_manager):
    case = make_case(actor=agency_manager)
    partner = PartnerOrganizationFactory()
    CasePartner.objects.create(case=case, partner=partner, is_primary=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        CasePartner.objects.create(case=case, partner=partner, is_primary=False)


def test_the_database_rejects_a_user_twice_on_a_case_team(agency_manager, caseworker):
    case = make_case(actor=agency_manager)
    CaseTeamMember.objects.create(case=case, user=caseworker, role=CaseTeamMember.Role.AGENCY)
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseTeamMember.objects.create(case=case, user=caseworker, role=CaseTeamMember.Role.AGENCY)


def pending_referral(case, organization, agent) -> Referral:
    return Referral.objects.create(
        case=case, organization=organization, agent=agent, due_at=timezone.now()
    )


def test_the_database_rejects_a_partner_agent_member_without_organization(
    agency_manager, partner_agent, northside
):
    case = make_case(actor=agency_manager)
    referral = pending_referral(case, northside, partner_agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseTeamMember.objects.create(
            case=case,
            user=partner_agent,
            role=CaseTeamMember.Role.PARTNER_AGENT,
            referral=referral,
            referral_state=Referral.State.PENDING,
        )
    # With its organization the same row is fine.
    CaseTeamMember.objects.create(
        case=case,
        user=partner_agent,
        role=CaseTeamMember.Role.PARTNER_AGENT,
        organization=northside,
        referral=referral,
        referral_state=Referral.State.PENDING,
    )


def test_the_database_rejects_a_partner_agent_member_without_referral(
    agency_manager, partner_agent, northside
):
    case = make_case(actor=agency_manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseTeamMember.objects.create(
            case=case,
            user=partner_agent,
            role=CaseTeamMember.Role.PARTNER_AGENT,
            organization=northside,
            referral_state=Referral.State.PENDING,
        )


def test_the_database_rejects_a_referral_state_on_an_agency_member(agency_manager, caseworker):
    case = make_case(actor=agency_manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseTeamMember.objects.create(
            case=case,
            user=caseworker,
            role=CaseTeamMember.Role.AGENCY,
            referral_state=Referral.State.PENDING,
        )


@pytest.mark.parametrize(
    "state",
    [Referral.State.DECLINED, Referral.State.COULD_NOT_HELP, Referral.State.WITHDRAWN],
)
def test_the_database_rejects_a_decline_without_a_reason(
    agency_manager, partner_agent, northside, state
):
    case = make_case(actor=agency_manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(case=case, organization=northside, agent=partner_agent, state=state)
    # The same referral with its coded reason is fine.
    Referral.objects.create(
        case=case, organization=northside, agent=partner_agent, state=state, reason="other"
    )


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (Activity, {"subject": "Call"}),
        (ServiceRequest, {"number": "SR-999999", "title": "Ledger"}),
        (Note, {"body": "Spoke with the client"}),
    ],
)
def test_the_database_rejects_an_unshared_record_written_by_a_partner(
    agency_manager, partner_agent, model, fields
):
    case = make_case(actor=agency_manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(
            case=case, author=partner_agent, by_partner=True, shared_with_partners=False, **fields
        )


def test_attachments_are_stored_under_a_generated_name_never_the_uploaded_one(agency_manager):
    case = make_case(actor=agency_manager)
    path = attachment_upload_to(Attachment(case=case), "../../etc/passwd eviction notice.pdf")
    assert path.startswith(f"attachments/{case.pk}/")
    assert "passwd" not in path and "eviction" not in path and ".." not in path
    assert path != attachment_upload_to(Attachment(case=case), "eviction notice.pdf")


def test_case_events_cannot_be_changed_or_deleted_through_the_orm(agency_manager):
    case = make_case(actor=agency_manager)
    event = case.events.get()
    event.verb = CaseEvent.Verb.DECLINED
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        CaseEvent.objects.filter(pk=event.pk).update(verb=CaseEvent.Verb.DECLINED)
    with pytest.raises(PermissionError):
        CaseEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(PermissionError):
        case.events.all().delete()
    assert CaseEvent.objects.get(pk=event.pk).verb == CaseEvent.Verb.CREATED


def test_new_case_events_can_be_appended(agency_manager):
    case = make_case(actor=agency_manager)
    CaseEvent.objects.create(case=case, actor=agency_manager, verb=CaseEvent.Verb.UPDATED)
    assert case.events.count() == 2


def test_a_team_member_is_new_until_seen(partner_agent):
    _, member = make_referral(agent_user=partner_agent)
    assert member.is_new and member.is_partner
