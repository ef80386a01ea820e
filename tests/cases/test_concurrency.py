"""Concurrent requests on PostgreSQL with real threads: the invariants hold and exactly one
of two conflicting answers wins. Each thread has its own database connection; a barrier
releases them together so their transactions overlap."""

import threading
from collections import Counter

import pytest
from django.db import connection

from accounts.roles import Role
from cases import services
from cases.models import (
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    CaseUserObjectPermission,
    Referral,
)
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = [
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

State = Referral.State
Verb = CaseEvent.Verb
ROUNDS = 6


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: row locks and truly concurrent transactions "
            f"(this run uses {connection.vendor}, which serializes every writer)"
        )


@pytest.fixture
def actor(db):
    return UserFactory(username="concurrent-manager", roles=[Role.AGENCY_MANAGER])


def run_together(*calls, during=None):
    """Run each callable in its own thread, released at once by a barrier; `during` runs
    repeatedly in one more thread until they are all done. Returns, per call, ("ok", value)
    or ("error", exception), and the values `during` returned."""
    barrier = threading.Barrier(len(calls) + (1 if during else 0))
    results: list = [None] * len(calls)
    observed: list = []
    done = threading.Event()

    def worker(index, call):
        try:
            connection.ensure_connection()  # connect first: the barrier releases real work
            barrier.wait(timeout=20)
            results[index] = ("ok", call())
        except Exception as exc:
            results[index] = ("error", exc)
        finally:
            connection.close()

    def watcher():
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            while not done.is_set():
                observed.append(during())
            observed.append(during())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    watch = threading.Thread(target=watcher) if during else None
    for thread in [*threads, *([watch] if watch else [])]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done.set()
    if watch:
        watch.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results, observed


def errors(results) -> list[Exception]:
    return [value for kind, value in results if kind == "error"]


def primaries(case_pk: int) -> int:
    return CasePartner.objects.filter(case_id=case_pk, is_primary=True).count()


def test_concurrent_set_primary_always_leaves_exactly_one_primary(actor):
    case = make_case(actor=actor)
    orgs = [PartnerOrganizationFactory(name=f"Org {n}") for n in range(5)]
    for org in orgs:
        services.partner_add(actor=actor, case=case, partner=org)
    for round_ in range(ROUNDS):
        order = orgs[round_ % 5 :] + orgs[: round_ % 5]
        results, observed = run_together(
            *(
                lambda org=org: services.partner_set_primary(actor=actor, case=case, partner=org)
                for org in order
            ),
            during=lambda: primaries(case.pk),
        )
        assert errors(results) == []
        assert primaries(case.pk) == 1
        # A reader never saw zero or two primaries while the swaps were committing.
        assert observed and set(observed) == {1}
    assert case.events.filter(verb=Verb.PARTNER_PRIMARY).count() >= ROUNDS


def test_concurrent_first_partners_make_exactly_one_primary(actor):
    orgs = [PartnerOrganizationFactory(name=f"Org {n}") for n in range(5)]
    for _ in range(ROUNDS):
        case = make_case(actor=actor)
        results, _ = run_together(
            *(
                lambda org=org, case=case: services.partner_add(actor=actor, case=case, partner=org)
                for org in orgs
            )
        )
        assert errors(results) == []
        assert CasePartner.objects.filter(case=case).count() == 5
        assert primaries(case.pk) == 1
        added = case.events.filter(verb=Verb.PARTNER_ADDED)
        assert added.count() == 5
        assert [e.data["primary"] for e in added].count(True) == 1


def test_concurrent_agents_of_different_organizations_make_exactly_one_primary(actor):
    agents = [
        PartnerAgentFactory(
            user=UserFactory(username=f"agent-{n}"),
            organization=PartnerOrganizationFactory(name=f"Org {n}"),
        ).user
        for n in range(4)
    ]
    for _ in range(ROUNDS):
        case = make_case(status=Case.Status.THIRD_PARTY, actor=actor)
        for user in agents:
            record_consent(case, user.partner_agent.organization, actor=actor)
        results, _ = run_together(
            *(
                lambda user=user, case=case: services.case_team_add(
                    actor=actor, case=case, user=user
                )
                for user in agents
            )
        )
        assert errors(results) == []
        assert CasePartner.objects.filter(case=case).count() == 4
        assert primaries(case.pk) == 1
        assert case.team.filter(role="partner_agent", is_active=True).count() == 4


def test_concurrent_accept_and_decline_of_one_referral_have_exactly_one_winner(
    actor, partner_agent
):
    outcomes = Counter()
    for round_ in range(ROUNDS):
        case, member = make_referral(agent_user=partner_agent, actor=actor)
        accept = lambda referral=member.referral: services.referral_accept(  # noqa: E731
            actor=partner_agent, referral=referral
        )
        decline = lambda referral=member.referral: services.referral_decline(  # noqa: E731
            actor=partner_agent, referral=referral, reason="no_capacity"
        )
        calls = (accept, decline) if round_ % 2 else (decline, accept)
        results, _ = run_together(*calls)
        failures = errors(results)
        assert len(failures) == 1, failures
        assert isinstance(failures[0], services.ConflictError), failures
        answers = case.events.filter(verb__in=[Verb.ACCEPTED, Verb.DECLINED])
        assert answers.count() == 1
        state = CaseTeamMember.objects.get(pk=member.pk).referral_state
        assert {Verb.ACCEPTED: State.ACCEPTED, Verb.DECLINED: State.DECLINED}[
            answers.get().verb
        ] == state
        assert Referral.objects.get(pk=member.referral_id).state == state
        outcomes[state] += 1
    assert sum(outcomes.values()) == ROUNDS


def test_many_concurrent_answers_to_one_referral_have_exactly_one_winner(actor, partner_agent):
    case, member = make_referral(agent_user=partner_agent, actor=actor)
    referral = member.referral
    calls = [
        lambda: services.referral_accept(actor=partner_agent, referral=referral),
        lambda: services.referral_decline(
            actor=partner_agent, referral=referral, reason="other", note="Conflict"
        ),
    ] * 3
    results, _ = run_together(*calls)
    failures = errors(results)
    assert len(failures) == 5
    assert all(isinstance(f, services.ConflictError) for f in failures), failures
    assert case.events.filter(verb__in=[Verb.ACCEPTED, Verb.DECLINED]).count() == 1


def test_concurrent_approve_and_deny_have_exactly_one_winner(actor):
    other = UserFactory(username="second-manager", roles=[Role.AGENCY_MANAGER])
    for _ in range(ROUNDS):
        case = make_case(actor=actor)
        results, _ = run_together(
            lambda case=case: services.case_transition(actor=actor, case=case, name="approve"),
            lambda case=case: services.case_transition(actor=other, case=case, name="deny"),
        )
        failures = errors(results)
        assert len(failures) == 1 and isinstance(failures[0], services.ConflictError), failures
        assert case.events.filter(verb=Verb.TRANSITION).count() == 1
        assert Case.objects.get(pk=case.pk).status in (Case.Status.APPROVED, Case.Status.DENIED)


def test_removing_an_agent_while_the_agent_accepts_never_deadlocks_and_ends_removed(
    actor, partner_agent
):
    for round_ in range(ROUNDS):
        case, member = make_referral(agent_user=partner_agent, actor=actor)
        remove = lambda case=case: services.case_team_remove(  # noqa: E731
            actor=actor, case=case, user=partner_agent
        )
        accept = lambda referral=member.referral: services.referral_accept(  # noqa: E731
            actor=partner_agent, referral=referral
        )
        results, _ = run_together(*((remove, accept) if round_ % 2 else (accept, remove)))
        # The removal always succeeds; the answer either came first or finds it withdrawn.
        assert all(isinstance(f, services.ConflictError) for f in errors(results)), results
        assert results[0 if round_ % 2 else 1][0] == "ok", results  # the removal
        member = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
        assert (member.referral_state, member.is_active) == (State.WITHDRAWN, False)
        assert (member.referral.state, member.referral.reason) == (
            State.WITHDRAWN,
            Referral.WithdrawReason.REMOVED,
        )
        assert not CaseUserObjectPermission.objects.filter(user=partner_agent, content_object=case)


def test_opening_a_case_while_the_agency_removes_the_agent_never_deadlocks(actor, partner_agent):
    for round_ in range(ROUNDS):
        case, member = make_referral(agent_user=partner_agent, actor=actor)
        remove = lambda case=case: services.case_team_remove(  # noqa: E731
            actor=actor, case=case, user=partner_agent
        )
        view = lambda case=case: services.case_mark_seen(user=partner_agent, case=case)  # noqa: E731
        results, _ = run_together(*((remove, view) if round_ % 2 else (view, remove)))
        assert errors(results) == []
        assert not CaseTeamMember.objects.get(pk=member.pk).is_active


def test_accepting_while_the_agency_closes_the_case_always_ends_withdrawn_with_a_consistent_trail(
    actor, partner_agent
):
    """Close locks the case row, and so does an answer before it locks the referral: the
    two serialize. Either the accept commits first and the close then withdraws the
    accepted referral, or the close commits first and the accept finds it withdrawn
    (ConflictError). Never an ACCEPTED event after the WITHDRAWN one."""
    orders = Counter()
    for round_ in range(ROUNDS):
        case, member = make_referral(agent_user=partner_agent, actor=actor)
        referral = member.referral
        close = lambda case=case: services.case_transition(  # noqa: E731
            actor=actor, case=case, name="close"
        )
        accept = lambda referral=referral: services.referral_accept(  # noqa: E731
            actor=partner_agent, referral=referral
        )
        calls = (close, accept) if round_ % 2 else (accept, close)
        since = case.events.order_by("-pk").values_list("pk", flat=True).first()
        results, _ = run_together(*calls)
        names = ("close", "accept") if round_ % 2 else ("accept", "close")
        by_name = dict(zip(names, results, strict=True))
        assert by_name["close"][0] == "ok", by_name  # the close always succeeds
        assert Case.objects.get(pk=case.pk).status == Case.Status.CLOSED
        referral.refresh_from_db()
        assert (referral.state, referral.reason) == (
            State.WITHDRAWN,
            Referral.WithdrawReason.CASE_CLOSED,
        )
        member = CaseTeamMember.objects.get(pk=member.pk)
        assert (member.referral_state, member.is_active) == (State.WITHDRAWN, False)
        assert not CaseUserObjectPermission.objects.filter(user=partner_agent, content_object=case)
        trail = list(
            case.events.filter(
                pk__gt=since, verb__in=[Verb.ACCEPTED, Verb.TRANSITION, Verb.WITHDRAWN]
            )
            .order_by("pk")
            .values_list("verb", flat=True)
        )
        if by_name["accept"][0] == "ok":
            # The accept won: the close withdrew the accepted referral after it.
            assert referral.responded_at is not None
            assert trail == [Verb.ACCEPTED, Verb.TRANSITION, Verb.WITHDRAWN]
            orders["accepted first"] += 1
        else:
            # The close won: the accept found the referral withdrawn and changed nothing.
            assert isinstance(by_name["accept"][1], services.ConflictError), by_name
            assert referral.responded_at is None
            assert trail == [Verb.TRANSITION, Verb.WITHDRAWN]
            orders["closed first"] += 1
    assert sum(orders.values()) == ROUNDS
