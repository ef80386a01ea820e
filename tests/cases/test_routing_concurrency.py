"""Concurrent routers on PostgreSQL with real threads (each with its own connection, released
together by a barrier): no case is assigned twice, nobody goes past capacity, and the
workloads add up to the assignments."""

import threading
from collections import Counter
from unittest import mock

import pytest
from django.db import connection
from django.db.models import Count

from cases import routing
from cases.models import Case, CaseTeamMember, Referral, RoutingDecision
from cases.routing import services as routing_services
from partners.models import PartnerOrganization
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    record_consent,
)
from tests.routing_off import routing_off

pytestmark = [
    pytest.mark.usefixtures("fast_password_hashing"),
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

ROUTERS = 4
Outcome = RoutingDecision.Outcome
State = Referral.State


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: concurrent routers rely on row locks (SELECT ... FOR UPDATE, "
            f"SKIP LOCKED); this run uses {connection.vendor}, which serializes every writer"
        )


def run_together(call, times: int) -> list:
    """`call` in `times` threads released at once; per thread ("ok", value) or ("error", e)."""
    barrier = threading.Barrier(times)
    results: list = [None] * times

    def worker(index):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[index] = ("ok", call())
        except Exception as exc:
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a router hung"
    return results


def unassigned_cases(count: int, **fields) -> list[Case]:
    """Third-Party cases nobody has yet, each with the client's consent for every active
    partner organization."""
    with routing_off():
        cases = [make_case(status=Case.Status.THIRD_PARTY, **fields) for _ in range(count)]
        for case in cases:
            for organization in PartnerOrganization.objects.filter(active=True):
                record_consent(case, organization)
    return cases


def open_counts() -> dict[int, int]:
    return dict(
        CaseTeamMember.objects.filter(
            role=CaseTeamMember.Role.PARTNER_AGENT,
            is_active=True,
            referral_state__in=Referral.OPEN_STATES,
        )
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )


@pytest.mark.parametrize("chunk_size", [1, 5, 25])
def test_concurrent_routers_on_one_queue_never_assign_a_case_twice(chunk_size):
    program = ProgramFactory(code="SNAP")
    north, south = (
        PartnerOrganizationFactory(name="North"),
        PartnerOrganizationFactory(name="South"),
    )
    agents = [
        PartnerAgentFactory(
            user=UserFactory(username=f"agent{i}"),
            organization=north if i < 3 else south,
            languages=["en"],
            programs=["SNAP"],
            max_open_cases=capacity,
        )
        for i, capacity in enumerate([4, 6, 8, 5, 7])
    ]
    capacity = sum(a.max_open_cases for a in agents)  # 30
    routing_services.assignment_rule_create(
        actor=None, name="North region", region="North", organizations=[north]
    )
    routing_services.assignment_rule_create(
        actor=None, name="Everything else", organizations=[north, south]
    )
    cases = unassigned_cases(20, program=program, language="en", region="North")
    cases += unassigned_cases(16, program=program, language="en", region="South")

    results = run_together(
        lambda: routing.cases_route_unassigned(actor=None, chunk_size=chunk_size), ROUTERS
    )

    assert [kind for kind, _ in results] == ["ok"] * ROUTERS, results
    totals = sum((counts for _, counts in results), Counter())
    assert totals[Outcome.ASSIGNED] == capacity  # 36 cases, room for 30
    assert totals["errors"] == 0
    active = CaseTeamMember.objects.filter(
        case__in=cases, role=CaseTeamMember.Role.PARTNER_AGENT, is_active=True
    )
    per_case = Counter(active.values_list("case_id", flat=True))
    assert max(per_case.values()) == 1  # never twice
    assert len(per_case) == capacity
    assigned = RoutingDecision.objects.filter(outcome=Outcome.ASSIGNED)
    assert assigned.count() == capacity
    assert assigned.values("case_id").distinct().count() == capacity
    # Each new referral names the decision that made it.
    referrals = Referral.objects.filter(case__in=cases, state=State.PENDING)
    assert referrals.count() == capacity
    for referral in referrals.select_related("routing_decision__winner"):
        assert referral.routing_decision.outcome == Outcome.ASSIGNED
        assert referral.routing_decision.case_id == referral.case_id
        assert referral.routing_decision.winner.user_id == referral.agent_id
    # The workloads add up: every agent is full, none past the limit, and each agent's open
    # referrals are exactly the assignments decided for them.
    loads = open_counts()
    wins = Counter(assigned.values_list("winner__user_id", flat=True))
    for agent in agents:
        assert loads.get(agent.user_id, 0) == agent.max_open_cases == wins[agent.user_id]
    assert sum(loads.values()) == capacity
    # The six left over are still in the queue.
    assert routing.unassigned_cases().count() == len(cases) - capacity


def test_concurrent_route_automatically_on_one_case_assigns_it_once():
    program = ProgramFactory(code="SNAP")
    org = PartnerOrganizationFactory(name="North")
    for i in range(3):
        PartnerAgentFactory(
            user=UserFactory(username=f"agent{i}"), organization=org, languages=["en"]
        )
    routing_services.assignment_rule_create(
        actor=None, name="All", organizations=[org], match_program=False
    )
    (case,) = unassigned_cases(1, program=program, language="en")

    results = run_together(lambda: routing.case_route(actor=None, case=case), ROUTERS)

    outcomes = Counter(
        value.outcome if kind == "ok" else type(value).__name__ for kind, value in results
    )
    assert outcomes == {Outcome.ASSIGNED: 1, "NotRoutable": ROUTERS - 1}
    assert case.team.filter(role=CaseTeamMember.Role.PARTNER_AGENT, is_active=True).count() == 1
    assert case.routing_decisions.count() == 1
    assert case.referrals.get().routing_decision == case.routing_decisions.get()


def test_concurrent_expiry_sweeps_expire_and_reroute_each_referral_once():
    program = ProgramFactory(code="SNAP")
    org = PartnerOrganizationFactory(name="North")
    for i in range(4):
        PartnerAgentFactory(
            user=UserFactory(username=f"agent{i}"), organization=org, languages=["en"]
        )
    routing_services.assignment_rule_create(
        actor=None,
        name="All",
        organizations=[org],
        match_program=False,
        response_window_hours=1,
    )
    cases = unassigned_cases(6, program=program, language="en")
    routing.cases_route_unassigned(actor=None)
    pending = CaseTeamMember.objects.filter(referral_state=State.PENDING).select_related("referral")
    first = {m.case_id: m.referral for m in pending}
    assert len(first) == 6
    now = max(referral.due_at for referral in first.values())

    # The sweeps run at `now`: the referrals they make are due an hour after it.
    with mock.patch("django.utils.timezone.now", return_value=now):
        results = run_together(lambda: routing.referrals_expire_overdue(now=now), ROUTERS)

    assert [kind for kind, _ in results] == ["ok"] * ROUTERS, results
    totals = sum((counts for _, counts in results), Counter())
    assert totals["expired"] == 6
    assert totals[Outcome.ASSIGNED] == 6
    for case in cases:
        rows = case.team.filter(role=CaseTeamMember.Role.PARTNER_AGENT)
        assert rows.filter(referral_state=State.EXPIRED).count() == 1
        assert rows.filter(is_active=True).count() == 1
        assert case.events.filter(verb="expired").count() == 1
        expired = case.referrals.get(state=State.EXPIRED)
        assert expired == first[case.pk]
        current = case.referrals.get(state=State.PENDING)
        assert current.replaces == expired
        assert current.routing_decision.trigger == RoutingDecision.Trigger.EXPIRY
        assert rows.get(is_active=True).referral == current
