"""seed_bench: a consistent benchmark data set (PostgreSQL only). The bench app is installed
only by bench.settings, so the tests run its command object directly."""

from collections import Counter
from statistics import median

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from bench.management.commands import seed_bench
from cases.models import (
    Case,
    CaseGroupObjectPermission,
    CasePartner,
    CaseTeamMember,
    Note,
    Referral,
)
from cases.models import CaseUserObjectPermission as UserPerm
from cases.permissions import codenames_for_tabs
from cases.roles import sync_roles
from cases.selectors import (
    agency_referral_board,
    memberships_for_partner,
    partner_case_or_404,
    records_for_partner,
)
from partners.models import PartnerAgent

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="seed_bench is set-based SQL for PostgreSQL"
)
SEED_ARGS = ["--cases", "600", "--agents", "12", "--partners", "3", "--seed", "7"]


@pytest.fixture
def seeded(transactional_db):
    # VACUUM cannot run inside the test's transaction, hence a transactional test; the
    # flush of an earlier transactional test removed the role groups the migration made.
    sync_roles()
    call_command(seed_bench.Command(), *SEED_ARGS, "--records-fraction", "0.5", verbosity=0)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the refusal is for SQLite")
@pytest.mark.django_db
def test_seed_bench_refuses_to_run_on_sqlite():
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command(seed_bench.Command(), "--cases", "100", verbosity=0)
    assert not Case.objects.exists()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_seed_bench_refuses_a_database_that_holds_data_unless_forced(partner_agent):
    with pytest.raises(CommandError, match="--force"):
        call_command(seed_bench.Command(), "--cases", "100", verbosity=0)
    assert not Case.objects.exists()
    call_command(seed_bench.Command(), "--cases", "100", "--force", verbosity=0)
    assert Case.objects.count() == 100
    # The existing user is untouched and on no case team.
    assert not memberships_for_partner(user=partner_agent).exists()


@on_postgres
def test_every_partner_agent_lists_exactly_the_cases_guardian_lets_them_view(seeded):
    agents = PartnerAgent.objects.filter(role=PartnerAgent.Role.AGENT).select_related("user")
    assert agents.count() == 12
    for agent in agents:
        listed = set(memberships_for_partner(user=agent.user).values_list("case_id", flat=True))
        granted = set(
            UserPerm.objects.filter(user=agent.user, permission__codename="view_case").values_list(
                "content_object_id", flat=True
            )
        )
        by_guardian = set(
            get_objects_for_user(
                agent.user, "cases.view_case", klass=Case, accept_global_perms=False
            ).values_list("pk", flat=True)
        )
        assert listed == granted == by_guardian
        assert listed, f"{agent.user} has no case"


@on_postgres
def test_partner_managers_list_the_cases_their_group_may_view(seeded):
    for manager in PartnerAgent.objects.filter(role=PartnerAgent.Role.MANAGER):
        listed = set(memberships_for_partner(user=manager.user).values_list("case_id", flat=True))
        granted = set(
            CaseGroupObjectPermission.objects.filter(
                group=manager.organization.managers_group, permission__codename="view_case"
            ).values_list("content_object_id", flat=True)
        )
        assert listed == granted
        assert manager.user.groups.filter(pk=manager.organization.managers_group_id).exists()


@on_postgres
def test_each_active_partner_agent_holds_the_permissions_of_their_tabs(seeded):
    members = CaseTeamMember.objects.filter(role="partner_agent")
    assert members.filter(is_active=False).exists(), "no declined or expired history"
    for member in members:
        held = set(
            UserPerm.objects.filter(
                user_id=member.user_id, content_object_id=member.case_id
            ).values_list("permission__codename", flat=True)
        )
        assert held == (set(codenames_for_tabs(member.tabs)) if member.is_active else set())


@on_postgres
def test_every_referred_case_has_exactly_one_primary_partner_including_its_agents_org(seeded):
    primaries = Counter(
        CasePartner.objects.filter(is_primary=True).values_list("case_id", flat=True)
    )
    partnered = set(CasePartner.objects.values_list("case_id", flat=True))
    assert partnered and set(primaries) == partnered
    assert set(primaries.values()) == {1}
    for member in CaseTeamMember.objects.filter(role="partner_agent", is_active=True):
        assert CasePartner.objects.filter(
            case_id=member.case_id, partner_id=member.organization_id
        ).exists()
    # Every case has its owner on the team; only referred cases have partner agents.
    assert CaseTeamMember.objects.filter(role="owner").count() == Case.objects.count()
    assert not CaseTeamMember.objects.filter(
        role="partner_agent", is_active=True, case__status__in=["open", "approved", "denied"]
    ).exists()


@on_postgres
def test_the_caseload_is_skewed_and_some_referrals_are_new(seeded):
    loads = Counter(
        CaseTeamMember.objects.filter(role="partner_agent", is_active=True).values_list(
            "user_id", flat=True
        )
    )
    assert max(loads.values()) >= 3 * median(loads.values())
    unseen = CaseTeamMember.objects.filter(role="partner_agent", is_active=True, seen_at=None)
    assert unseen.exists()
    assert set(unseen.values_list("referral_state", flat=True)) == {"pending"}


@on_postgres
def test_every_partner_agent_row_points_at_its_referral_and_copies_its_state(seeded):
    members = CaseTeamMember.objects.filter(role="partner_agent").select_related("referral")
    assert members.exists()
    for member in members:
        referral = member.referral
        assert referral is not None, f"team row {member.pk} has no referral"
        assert member.referral_state == referral.state
        assert (referral.case_id, referral.agent_id, referral.organization_id) == (
            member.case_id,
            member.user_id,
            member.organization_id,
        )
    assert Referral.objects.count() == members.count()
    assert not CaseTeamMember.objects.exclude(role="partner_agent").exclude(referral=None).exists()
    assert not Referral.objects.filter(state=Referral.State.PENDING, due_at=None).exists()


@on_postgres
def test_the_referrals_mix_every_state_and_each_board_filter_finds_cases(seeded, client):
    State = Referral.State
    assert set(Referral.objects.values_list("state", flat=True)) == set(State.values)
    now = timezone.now()
    pending = Referral.objects.filter(state=State.PENDING)
    overdue = pending.filter(due_at__lte=now).count()
    assert pending.filter(due_at__gt=now).count() > overdue > 0
    assert not Referral.objects.filter(state=State.WAITLISTED, review_at=None).exists()
    assert not Referral.objects.filter(
        Q(outcome="") | Q(completed_at=None), state=State.COMPLETED
    ).exists()
    ended = [State.DECLINED, State.COULD_NOT_HELP, State.WITHDRAWN]
    assert not Referral.objects.filter(state__in=ended, reason="").exists()
    # Escalated referrals came back to the owner: the agent is off the team.
    escalated = Referral.objects.exclude(escalated_at=None)
    assert escalated.exists()
    assert not CaseTeamMember.objects.filter(referral__in=escalated, is_active=True).exists()
    manager = get_user_model().objects.get(username="seed-manager")
    client.force_login(manager)
    for state in ("pending", "overdue", "waitlisted", "escalated", "completed_week"):
        assert agency_referral_board(user=manager, state=state).exists(), state
        assert client.get(f"/cases/referrals/?state={state}").status_code == 200


@on_postgres
def test_a_seeded_agent_opens_a_case_with_shared_records_and_not_the_internal_ones(seeded):
    member = CaseTeamMember.objects.filter(
        role="partner_agent", is_active=True, case__notes__isnull=False
    ).first()
    case, checker = partner_case_or_404(user=member.user, pk=member.case_id)
    assert checker.has_perm("view_case_notes", case)
    shared = list(records_for_partner(user=member.user, case=case, kind="notes"))
    assert shared
    assert Note.objects.filter(case=case, shared_with_partners=False).exists()
    assert all(note.shared_with_partners for note in shared)


@on_postgres
def test_every_seeded_user_signs_in_with_the_one_bench_password(seeded):
    users = get_user_model().objects.filter(username__startswith="seed-")
    assert users.count() == 12 + 3 + 2 + 1  # agents, partner managers, caseworkers, manager
    assert len(set(users.values_list("password", flat=True))) == 1
    assert users.first().check_password(seed_bench.BENCH_PASSWORD)
