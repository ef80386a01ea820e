"""`manage.py load_demo`: idempotent, every status, a believable partner workload."""

import hashlib
import re

import pgtrigger
import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from accounts.roles import Role, is_agency_user, is_partner_user
from cases import selectors
from cases.models import (
    Activity,
    Attachment,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    InboxItem,
    Note,
    Referral,
    ServiceRequest,
)
from partners.models import PartnerAgent, PartnerOrganization

from .conftest import load_demo

pytestmark = pytest.mark.django_db

State = Referral.State
DEMO_PASSWORD = "caseworks-demo"


def snapshot() -> dict:
    """Every row of the project's tables and of users, groups and object permissions."""
    labels = ("cases", "partners", "auth", "guardian")
    state = {}
    for model in apps.get_models():
        if model._meta.app_label in labels or model is get_user_model():
            state[model._meta.label] = sorted(
                tuple(sorted((k, str(v)) for k, v in row.items())) for row in model.objects.values()
            )
    return state


def user(username):
    return get_user_model().objects.get(username=username)


# These two load the demo themselves; they come first, before the module's shared demo.


def test_loading_the_demo_twice_changes_nothing_the_second_time(private_storage):
    first = load_demo()
    before = snapshot()
    second = load_demo()
    assert "67 new cases" in first
    assert "0 new users, 0 new cases, 0 new routing rules" in second
    assert snapshot() == before


def test_a_half_loaded_demo_is_completed_with_the_same_cases(private_storage):
    load_demo()
    reference = {c.number: (c.name, c.applicant_name, c.status) for c in Case.objects.all()}
    for case in Case.objects.order_by("-number")[:5]:
        # The test's own data: its team, referrals, consents and trail go with it.
        # Referrals, consents and events are history and protect their case, so they go
        # first (the events, which the ORM never deletes and a trigger guards, in plain SQL
        # past the trigger; the newest consent first, as it may supersede an older one).
        case.team.all().delete()
        for referral in case.referrals.order_by("-pk"):
            referral.delete()
        for consent in case.consents.order_by("-pk"):
            consent.delete()
        case.emergency_access.all().delete()
        with (
            pgtrigger.ignore("cases.CaseEvent:caseevent_append_only"),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM cases_caseevent WHERE case_id = %s", [case.pk])
        case.delete()
    out = load_demo()
    assert "5 new cases" in out
    assert {c.number: (c.name, c.applicant_name, c.status) for c in Case.objects.all()} == (
        reference
    )


def test_the_demo_brings_the_assignment_managers_rules(demo):
    from cases.models import AssignmentRule

    assert AssignmentRule.objects.filter(active=True).exists()


def test_the_demo_has_about_sixty_cases_with_deterministic_numbers_in_every_status(demo):
    numbers = sorted(Case.objects.values_list("number", flat=True))
    assert 55 <= len(numbers) <= 70
    assert numbers == [f"CASE-2026-{n:06d}" for n in range(1, len(numbers) + 1)]
    statuses = set(Case.objects.values_list("status", flat=True))
    assert statuses == set(Case.Status.values)
    for status in Case.Status.values:
        assert Case.objects.filter(status=status).count() >= 5, status


def test_the_demo_logins_sign_in_with_the_documented_password_and_hold_their_roles(demo):
    logins = ("admin", "manager", "caseworker", "partner", "partner2", "partnermgr", "outsider")
    assert user("partner").check_password(DEMO_PASSWORD)
    # One hash for the one documented password (hashed once, so the demo loads quickly).
    assert {user(username).password for username in logins} == {user("partner").password}
    assert user("admin").is_superuser and user("admin").is_staff
    assert user("manager").groups.filter(name=Role.AGENCY_MANAGER).exists()
    assert user("caseworker").groups.filter(name=Role.AGENCY_CASEWORKER).exists()
    assert is_agency_user(user("manager")) and is_agency_user(user("caseworker"))
    northside = PartnerOrganization.objects.get(name="Northside Legal Aid")
    harbor = PartnerOrganization.objects.get(name="Harbor Family Services")
    expected = {
        "partner": (northside, PartnerAgent.Role.AGENT, Role.PARTNER_AGENT),
        "partner2": (northside, PartnerAgent.Role.AGENT, Role.PARTNER_AGENT),
        "partnermgr": (northside, PartnerAgent.Role.MANAGER, Role.PARTNER_MANAGER),
        "outsider": (harbor, PartnerAgent.Role.AGENT, Role.PARTNER_AGENT),
    }
    for username, (org, role, group) in expected.items():
        agent = user(username).partner_agent
        assert (agent.organization, agent.role) == (org, role)
        assert user(username).groups.filter(name=group).exists()
        assert is_partner_user(user(username)) and not is_agency_user(user(username))
        # Partner users never hold a model-level permission (django-fsm falls back to them).
        assert not {p for p in user(username).get_all_permissions() if p.startswith("cases.")}
    assert northside.managers_group.user_set.get() == user("partnermgr")
    # The other directory agents exist but cannot sign in.
    others = PartnerAgent.objects.exclude(user__username__in=expected).select_related("user")
    assert others.exists()
    assert not any(agent.user.has_usable_password() for agent in others)


def test_partner_organizations_are_the_named_ones_with_their_programs_areas_and_tabs(demo):
    orgs = {org.name: org for org in PartnerOrganization.objects.all()}
    assert orgs["Northside Legal Aid"].kind == PartnerOrganization.Kind.LAW_FIRM
    assert orgs["Harbor Family Services"].kind == PartnerOrganization.Kind.SERVICE_PROVIDER
    assert orgs["County Housing Authority"].kind == PartnerOrganization.Kind.GOVERNMENT_AGENCY
    assert len(orgs) >= 6
    assert sorted(orgs["Northside Legal Aid"].default_tabs) == sorted(
        ["activities", "attachments", "servicerequests", "notes"]
    )
    assert len({tuple(sorted(org.default_tabs)) for org in orgs.values()}) >= 3
    for org in orgs.values():
        assert org.programs_served and org.service_areas and org.languages, org.name


def test_partner_has_new_unseen_and_accepted_cases_and_partner2_declined_one(demo):
    partner = user("partner")
    rows = selectors.memberships_for_partner(user=partner)
    assert rows.filter(seen_at__isnull=True, referral_state=State.PENDING).count() >= 3
    assert rows.filter(seen_at__isnull=False, referral_state=State.PENDING).exists()
    assert rows.filter(referral_state=State.ACCEPTED).exists()
    working = rows.filter(referral_state=State.IN_PROGRESS)
    assert working.count() >= 5
    # Cases in progress carry the partner's own notes and activities.
    for member in working:
        assert Note.objects.filter(case=member.case, author=partner, by_partner=True).exists()
        assert Activity.objects.filter(case=member.case, author=partner).exists()
    declined = CaseTeamMember.objects.get(user=user("partner2"), referral_state=State.DECLINED)
    assert declined.referral.reason and declined.referral.reason_note
    assert not declined.is_active
    assert selectors.memberships_for_partner(user=user("partner2")).exists()
    assert selectors.memberships_for_partner(user=user("outsider")).exists()
    # Every kind of history is there: withdrawn, expired, completed.
    states = set(CaseTeamMember.objects.values_list("referral_state", flat=True))
    assert {State.WITHDRAWN, State.EXPIRED, State.COMPLETED} <= states


def test_the_demo_has_a_referral_in_every_state_and_the_loop_ends_it_shows(demo):
    assert set(Referral.objects.values_list("state", flat=True)) == set(State.values)
    now = timezone.now()
    # An overdue pending referral (the expiry job's next catch), a waitlisted one.
    assert Referral.objects.filter(state=State.PENDING, due_at__lte=now).exists()
    waitlisted = Referral.objects.get(state=State.WAITLISTED)
    assert waitlisted.review_at > now and waitlisted.waitlist_position == 4
    # At least two completed with their outcomes and notes.
    completed = Referral.objects.filter(state=State.COMPLETED)
    assert completed.count() >= 2
    assert all(r.outcome and r.outcome_note for r in completed)
    # An escalated referral in the manager's Inbox; an organization-level one in intake.
    manager = user("manager")
    escalated = Referral.objects.get(escalated_at__isnull=False)
    assert escalated.case.owner == manager
    assert InboxItem.objects.filter(
        user=manager, case=escalated.case, kind=InboxItem.Kind.ESCALATED, done_at=None
    ).exists()
    intake = Referral.objects.get(agent__isnull=True, state=State.PENDING)
    assert intake.organization.name == "Northside Legal Aid"
    partnermgr = PartnerAgent.objects.get(user__username="partnermgr")
    assert partnermgr.organization == intake.organization
    # Every open referral of the demo is due, or waitlisted with its review date.
    for referral in Referral.objects.filter(state__in=Referral.OPEN_STATES):
        assert referral.due_at or referral.review_at, referral
    # The team rows' copy of the state agrees with their referral.
    for member in CaseTeamMember.objects.filter(role=CaseTeamMember.Role.PARTNER_AGENT):
        assert member.referral_state == member.referral.state, member


def test_every_case_has_its_internal_fields_filled(demo):
    for case in Case.objects.all():
        assert case.household_income is not None, case.number
        assert re.fullmatch(r"XXX-XX-\d{4}", case.applicant_identifier), case.number
        assert case.eligibility_notes and case.date_of_birth and case.summary, case.number


def test_referred_cases_have_shared_and_internal_records_of_every_kind(demo):
    referred = Case.objects.filter(status=Case.Status.THIRD_PARTY)
    for model in (Activity, Attachment, ServiceRequest, Note):
        records = model.objects.filter(case__in=referred)
        assert records.filter(shared_with_partners=True).exists(), model.__name__
        assert records.filter(by_partner=True).exists(), model.__name__
    for model in (Activity, Attachment, Note):
        assert model.objects.filter(case__in=referred, shared_with_partners=False).exists()
    # Internal records never reach the partner's selector.
    partner = user("partner")
    for member in selectors.memberships_for_partner(user=partner):
        for kind in ("notes", "attachments", "activities", "servicerequests"):
            records = selectors.records_for_partner(user=partner, case=member.case, kind=kind)
            assert all(record.shared_with_partners for record in records)


def test_demo_attachments_are_real_files_matching_their_checksums(demo):
    attachments = Attachment.objects.all()
    assert attachments.filter(content_type="application/pdf").exists()
    assert attachments.filter(content_type="text/plain").exists()
    for attachment in attachments:
        with attachment.file.open("rb") as handle:
            content = handle.read()
        assert hashlib.sha256(content).hexdigest() == attachment.sha256
        assert len(content) == attachment.size
        if attachment.content_type == "application/pdf":
            assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")


def test_every_case_has_exactly_one_primary_partner_when_it_has_partners(demo):
    for case in Case.objects.filter(case_partners__isnull=False).distinct():
        assert CasePartner.objects.filter(case=case, is_primary=True).count() == 1
    verbs = set(CaseEvent.objects.values_list("verb", flat=True))
    assert {
        CaseEvent.Verb.PARTNER_PRIMARY,
        CaseEvent.Verb.PARTNER_REMOVED,
        CaseEvent.Verb.REASSIGNED,
        CaseEvent.Verb.DECLINED,
        CaseEvent.Verb.ACCEPTED,
        CaseEvent.Verb.VIEWED,
    } <= verbs


def test_the_demo_selectors_and_guardian_agree_for_every_partner_user(demo):
    for agent in PartnerAgent.objects.select_related("user"):
        listed = set(
            selectors.cases_for_partner_agent(user=agent.user).values_list("pk", flat=True)
        )
        granted = set(
            get_objects_for_user(
                agent.user, "cases.view_case", klass=Case, accept_global_perms=False
            ).values_list("pk", flat=True)
        )
        assert listed == granted, agent.user.username


def test_the_demo_history_is_in_the_past_and_reads_like_an_agency(demo):
    from django.utils import timezone

    assert not CaseEvent.objects.filter(created_at__gt=timezone.now()).exists()
    # Case numbers follow the order the cases were opened.
    by_time = list(Case.objects.order_by("created_at", "pk").values_list("number", flat=True))
    assert by_time == sorted(by_time)
    texts = [
        *Case.objects.values_list("summary", flat=True),
        *Note.objects.values_list("body", flat=True),
    ]
    assert not any("lorem" in text.lower() or "ipsum" in text.lower() for text in texts)
    assert any("Eviction notice received" in text for text in texts)
