"""The Assignment Manager: rules, strategies, candidates, decisions, expiry and escalation."""

from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from cases import routing, services
from cases.models import (
    AssignmentRule,
    Case,
    CaseEvent,
    CaseTeamMember,
    InboxItem,
    Referral,
    RoutingDecision,
)
from cases.routing import engine
from cases.routing import selectors as routing_selectors
from cases.routing import services as routing_services
from partners.models import PartnerAgent, PartnerOrganization
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = pytest.mark.django_db

Outcome = RoutingDecision.Outcome
State = Referral.State


@contextmanager
def no_auto_routing():
    """Build cases without the refer hook routing them (set-up only)."""
    with mock.patch("cases.routing.hooks.route_after_refer", lambda **kwargs: None):
        yield


def agent(username, organization, **profile) -> PartnerAgent:
    profile.setdefault("languages", ["en", "es"])
    profile.setdefault("programs", ["SNAP"])
    return PartnerAgentFactory(
        user=UserFactory(username=username, first_name=username.title(), last_name="Agent"),
        organization=organization,
        **profile,
    )


def rule(name="Rule", *, organizations=(), agents=(), **fields) -> AssignmentRule:
    return routing_services.assignment_rule_create(
        actor=None,
        name=name,
        organizations=list(organizations),
        agents=list(agents),
        **fields,
    )


def consent_for_every_partner(case: Case) -> None:
    """The client's consent for every active partner organization: consent rules nobody
    out in these tests."""
    for organization in PartnerOrganization.objects.filter(active=True):
        record_consent(case, organization)


def unassigned_case(**fields) -> Case:
    """A Third-Party case with nobody on its Case Team but the owner, and the client's
    consent for every active partner organization there is."""
    fields.setdefault("language", "es")
    with no_auto_routing():
        case = make_case(status=Case.Status.THIRD_PARTY, **fields)
        consent_for_every_partner(case)
    return case


def give_open_cases(partner: PartnerAgent, count: int, *, accepted: int = 0) -> None:
    with no_auto_routing():
        for i in range(count):
            _, member = make_referral(agent_user=partner.user)
            if i < accepted:
                services.referral_accept(actor=partner.user, referral=member.referral)


def active_partner(case: Case) -> CaseTeamMember | None:
    return case.team.filter(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT).first()


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # Many agents per test: a fast hasher keeps the module quick (nobody signs in here).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def snap(db):
    return ProgramFactory(code="SNAP", name="SNAP")


@pytest.fixture
def medicaid(db):
    return ProgramFactory(code="MED", name="Medicaid")


# Rule matching and ordering ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "case_fields", "matches"),
    [
        ({}, {}, True),
        ({"region": "North"}, {"region": "North"}, True),
        ({"region": "north "}, {"region": "North"}, True),
        ({"region": "North"}, {"region": "South"}, False),
        ({"region": "North"}, {"region": ""}, False),
        ({"language": "es"}, {"language": "es"}, True),
        ({"language": "es"}, {"language": "en"}, False),
        ({"priority": "urgent"}, {"priority": "urgent"}, True),
        ({"priority": "urgent"}, {"priority": "normal"}, False),
        ({"program": "SNAP"}, {}, True),
        ({"program": "MED"}, {}, False),
        ({"region": "North", "language": "es"}, {"region": "North", "language": "en"}, False),
    ],
)
def test_rule_criteria_match_the_case_and_empty_criteria_match_any(
    snap, medicaid, criteria, case_fields, matches
):
    programs = {"SNAP": snap, "MED": medicaid}
    if "program" in criteria:
        criteria["program"] = programs[criteria["program"]]
    the_rule = AssignmentRule(name="r", **criteria)
    case = Case(program=snap, region="", language="en", priority="normal")
    for name, value in case_fields.items():
        setattr(case, name, value)
    assert (engine.rule_mismatch(the_rule, case) == "") is matches


def test_the_first_matching_rule_in_order_assigns_the_case(northside, harbor, snap):
    north = agent("nora", northside)
    harb = agent("hank", harbor)
    case = unassigned_case(program=snap, region="North")
    rule("Everything to Harbor", organizations=[harbor])
    rule("North to Northside", organizations=[northside], region="North")
    first = AssignmentRule.objects.get(name="Everything to Harbor")
    routing_services.assignment_rule_move(actor=None, rule=first, direction="down")

    decision = routing.cases_route_unassigned(actor=None)
    assert decision == {Outcome.ASSIGNED: 1}
    assert active_partner(case).user == north.user
    assert RoutingDecision.objects.get(case=case).rule_name == "North to Northside"
    assert not harb.user.case_memberships.exists()


def test_reordering_rules_moves_one_place_and_renumbers():
    a, _b, c = (rule(n, organizations=[PartnerOrganizationFactory()]) for n in "abc")
    routing_services.assignment_rule_move(actor=None, rule=c, direction="up")
    assert list(AssignmentRule.objects.values_list("name", "order")) == [
        ("a", 1),
        ("c", 2),
        ("b", 3),
    ]
    routing_services.assignment_rule_move(actor=None, rule=a, direction="up")
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == ["a", "c", "b"]


def test_inactive_rules_are_ignored(northside, snap):
    agent("nora", northside)
    case = unassigned_case(program=snap)
    r = rule("Off", organizations=[northside])
    routing_services.assignment_rule_set_active(actor=None, rule=r, active=False)
    decision = routing.case_route(actor=None, case=case)
    assert decision.outcome == Outcome.NO_RULE
    assert decision.rule is None
    assert "No active rule matches" in decision.explanation
    assert active_partner(case) is None


def test_a_matching_rule_without_an_eligible_candidate_falls_through_to_the_next(
    northside, harbor, snap
):
    agent("nora", northside, available=False)
    harb = agent("hank", harbor)
    case = unassigned_case(program=snap)
    rule("Northside first", organizations=[northside])
    rule("Harbor next", organizations=[harbor])
    decision = routing.case_route(actor=None, case=case)
    assert decision.outcome == Outcome.ASSIGNED
    assert decision.winner == harb
    assert decision.rule_name == "Harbor next"
    assert decision.explanation == (
        "Least loaded: 0 of 25 open cases; speaks Spanish; serves SNAP. "
        "No eligible candidate before it: rule “Northside first” (1 not available)"
    )
    assert [c["rule"] for c in decision.candidates] == ["Northside first", "Harbor next"]


def test_a_rule_needs_a_candidate_pool():
    with pytest.raises(ValidationError):
        rule("Empty")


def test_partner_managers_are_not_in_an_organization_pool_unless_named(northside, snap):
    manager = agent("mia", northside, role=PartnerAgent.Role.MANAGER)
    case = unassigned_case(program=snap)
    rule("Org", organizations=[northside])
    assert routing.case_route(actor=None, case=case).outcome == Outcome.NO_CANDIDATE
    rule("Named", agents=[manager])
    assert routing.case_route(actor=None, case=case).winner == manager


# Strategies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workloads", "chosen"),
    [
        # (open referrals, max_open_cases) of agents a, b, c -> who gets the case
        ([(0, 25), (1, 25), (2, 25)], "a"),
        ([(2, 25), (1, 25), (3, 25)], "b"),
        ([(1, 2), (2, 10), (0, 5)], "c"),
        ([(1, 2), (2, 10), (3, 5)], "b"),
        ([(2, 4), (5, 10), (10, 20)], "a"),  # same share in use: fewer open cases wins
        ([(3, 10), (3, 10), (3, 10)], "a"),  # full tie: the oldest profile
        ([(25, 25), (24, 25), (30, 40)], "c"),
    ],
)
def test_least_loaded_picks_the_lowest_share_of_capacity_in_use(workloads, chosen):
    the_rule = AssignmentRule(name="r", strategy=AssignmentRule.Strategy.LEAST_LOADED)
    candidates = [
        engine.Candidate(
            agent=PartnerAgent(pk=pk, max_open_cases=cap), rule="r", open=n, capacity=cap
        )
        for pk, (n, cap) in enumerate(workloads, start=1)
    ]
    eligible = [c for c in candidates if c.open < c.capacity]
    winner = engine.choose(rule=the_rule, eligible=eligible)
    assert "abc"[winner.agent.pk - 1] == chosen
    assert winner.rank == 1


@pytest.mark.parametrize(
    ("pool", "cursor", "chosen"),
    [
        ([1, 2, 3], 0, 1),
        ([1, 2, 3], 1, 2),
        ([1, 2, 3], 3, 1),  # wraps around
        ([1, 3], 1, 3),  # agent 2 not eligible: skipped
        ([2, 3], 7, 2),  # the last one left the pool
    ],
)
def test_round_robin_takes_the_next_agent_after_the_cursor(pool, cursor, chosen):
    the_rule = AssignmentRule(name="r", strategy=AssignmentRule.Strategy.ROUND_ROBIN)
    eligible = [
        engine.Candidate(agent=PartnerAgent(pk=pk), rule="r", open=0, capacity=25) for pk in pool
    ]
    assert engine.choose(rule=the_rule, eligible=eligible, cursor=cursor).agent.pk == chosen


def test_least_loaded_routing_counts_open_referrals_from_the_database(northside, snap):
    a = agent("ana", northside, max_open_cases=10)
    b = agent("ben", northside, max_open_cases=4)
    give_open_cases(a, 2, accepted=1)  # 2 of 10
    give_open_cases(b, 1)  # 1 of 4
    rule("Least loaded", organizations=[northside])
    case = unassigned_case(program=snap)
    decision = routing.case_route(actor=None, case=case)
    assert decision.winner == a
    assert decision.explanation == "Least loaded: 2 of 10 open cases; speaks Spanish; serves SNAP"
    scores = {c["name"]: c["score"] for c in decision.candidates}
    assert scores == {"Ana Agent": 0.2, "Ben Agent": 0.25}


def test_closed_out_referrals_do_not_count_as_workload(northside, snap):
    a = agent("ana", northside, max_open_cases=1)
    with no_auto_routing():
        _, declined = make_referral(agent_user=a.user)
        declined = services.referral_decline(
            actor=a.user, referral=declined.referral, reason="no_capacity"
        )
        _, done = make_referral(agent_user=a.user, accepted=True)
        done = services.referral_complete(
            actor=a.user, referral=done.referral, outcome=Referral.Outcome.SERVED, note="Done."
        )
    assert [declined.state, done.state] == [State.DECLINED, State.COMPLETED]
    rule("r", organizations=[northside])
    assert routing.case_route(actor=None, case=unassigned_case(program=snap)).winner == a


def test_round_robin_routing_takes_turns_and_keeps_its_cursor(northside, snap):
    a, b, c = agent("ana", northside), agent("ben", northside), agent("cy", northside)
    r = rule("Turns", organizations=[northside], strategy=AssignmentRule.Strategy.ROUND_ROBIN)
    cases = [unassigned_case(program=snap) for _ in range(4)]
    routing.cases_route_unassigned(actor=None)
    assert [active_partner(case).user for case in cases] == [a.user, b.user, c.user, a.user]
    r.refresh_from_db()
    assert r.round_robin_cursor == a.pk
    decision = RoutingDecision.objects.filter(case=cases[1]).get()
    assert decision.explanation.startswith("Round robin: next in turn of 3 eligible agents")


# Candidates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "organization_active", "user_active", "reason"),
    [
        ({"available": False}, True, True, "Not available"),
        ({"max_open_cases": 0}, True, True, "At capacity: 0 of 0 open cases"),
        ({}, False, True, "Organization not active"),
        ({}, True, False, "Account not active"),
        ({"languages": ["en"]}, True, True, "Does not speak Spanish"),
        ({"programs": ["MED"]}, True, True, "Does not serve SNAP"),
    ],
)
def test_only_active_available_matching_agents_under_capacity_are_candidates(
    northside, snap, profile, organization_active, user_active, reason
):
    unlucky = agent("una", northside, **profile)
    unlucky.user.is_active = user_active
    unlucky.user.save(update_fields=["is_active"])
    northside.active = organization_active
    northside.save(update_fields=["active"])
    rule("r", organizations=[northside])
    decision = routing.case_route(actor=None, case=unassigned_case(program=snap))
    assert decision.outcome == Outcome.NO_CANDIDATE
    assert decision.winner is None
    assert decision.candidates[0]["reason"] == reason
    assert not unlucky.user.case_memberships.exists()


def test_agents_at_capacity_are_passed_over_for_the_next_one(northside, snap):
    full = agent("fay", northside, max_open_cases=2)
    free = agent("fred", northside, max_open_cases=50)
    give_open_cases(full, 2)
    give_open_cases(free, 10)
    rule("r", organizations=[northside])
    decision = routing.case_route(actor=None, case=unassigned_case(program=snap))
    assert decision.winner == free
    excluded = {c["name"]: c["reason"] for c in decision.candidates if c["excluded"]}
    assert excluded == {"Fay Agent": "At capacity: 2 of 2 open cases"}


def test_languages_and_programs_fall_back_to_the_organization(snap):
    org = PartnerOrganizationFactory(languages=["es"], programs_served=["SNAP"])
    plain = agent("pat", org, languages=[], programs=[])
    rule("r", organizations=[org])
    assert routing.case_route(actor=None, case=unassigned_case(program=snap)).winner == plain


def test_language_and_program_are_checked_only_where_the_rule_asks(northside, snap):
    other = agent("oli", northside, languages=["vi"], programs=["MED"])
    rule("r", organizations=[northside], match_language=False, match_program=False)
    decision = routing.case_route(actor=None, case=unassigned_case(program=snap))
    assert decision.winner == other
    assert decision.explanation == "Least loaded: 0 of 25 open cases"


def test_an_agent_who_declined_the_case_is_never_a_candidate_again(northside, snap):
    a, b = agent("ana", northside), agent("ben", northside)
    case = unassigned_case(program=snap)
    services.case_team_add(actor=None, case=case, user=a.user)
    services.referral_decline(
        actor=a.user, referral=case.team.get(user=a.user).referral, reason="conflict"
    )
    rule("r", organizations=[northside])
    decision = routing.case_route(actor=None, case=case)
    assert decision.winner == b
    reasons = {c["name"]: c["reason"] for c in decision.candidates}
    assert reasons["Ana Agent"] == "Declined this case"
    services.referral_decline(
        actor=b.user, referral=active_partner(case).referral, reason="conflict"
    )
    assert routing.case_route(actor=None, case=case).outcome == Outcome.NO_CANDIDATE


def test_an_agent_who_let_the_referral_expire_is_never_a_candidate_again(northside, snap):
    a, b = agent("ana", northside), agent("ben", northside)
    case = unassigned_case(program=snap)
    member = services.case_team_add(actor=None, case=case, user=a.user, response_hours=1)
    referral = member.referral
    assert services.referral_expire(referral=referral, now=referral.due_at + timedelta(minutes=1))
    rule("r", organizations=[northside])
    decision = routing.case_route(actor=None, case=case)
    assert decision.winner == b
    assert {c["name"]: c["excluded"] for c in decision.candidates}["Ana Agent"] == "expired"


def test_a_withdrawn_agent_may_be_routed_the_case_again(northside, snap):
    a = agent("ana", northside)
    case = unassigned_case(program=snap)
    services.case_team_add(actor=None, case=case, user=a.user)
    services.case_team_remove(actor=None, case=case, user=a.user)
    rule("r", organizations=[northside])
    assert routing.case_route(actor=None, case=case).winner == a
    assert active_partner(case).referral_state == State.PENDING


# Routing runs ------------------------------------------------------------------------------


def test_referring_a_case_routes_it_and_records_why(northside, snap, agency_manager):
    a = agent("ana", northside)
    rule("r", organizations=[northside], response_window_hours=36)
    case = make_case(status=Case.Status.APPROVED, program=snap, language="es")
    record_consent(case, northside)
    services.case_transition(actor=agency_manager, case=case, name="refer")

    member = active_partner(case)
    assert member.user == a.user
    assert member.referral_state == State.PENDING
    # The rule's window, in business hours of the organization's calendar.
    referral = member.referral
    assert referral.state == State.PENDING
    assert referral.response_hours == 36
    assert referral.due_at == services.referral_due_at(
        organization=northside, hours=36, start=referral.requested_at
    )
    assert referral.due_at - referral.requested_at >= timedelta(hours=36)
    assert a.user.has_perm("cases.view_case", case)
    decision = routing.latest_routing_decision(case=case)
    assert decision.trigger == RoutingDecision.Trigger.REFERRAL
    assert decision.actor == agency_manager
    assert decision.explanation == "Least loaded: 0 of 25 open cases; speaks Spanish; serves SNAP"
    assert referral.routing_decision == decision
    verbs = list(case.events.order_by("pk").values_list("verb", flat=True))
    assert verbs[-3:] == [
        CaseEvent.Verb.PARTNER_ADDED,
        CaseEvent.Verb.TEAM_ADDED,
        CaseEvent.Verb.ROUTED,
    ]
    routed = case.events.get(verb=CaseEvent.Verb.ROUTED)
    assert routed.data["decision"] == decision.pk
    assert case.events.get(verb=CaseEvent.Verb.TEAM_ADDED).data["routed"] is True


def test_referring_without_any_active_rule_records_nothing(snap, agency_manager):
    case = make_case(status=Case.Status.THIRD_PARTY, program=snap, actor=agency_manager)
    assert not RoutingDecision.objects.exists()
    assert not case.events.filter(verb=CaseEvent.Verb.ROUTED).exists()


def test_a_case_already_with_a_partner_agent_is_not_routed(northside, snap, partner_agent):
    agent("ana", northside)
    case, _ = make_referral(agent_user=partner_agent, program=snap)
    rule("r", organizations=[northside])
    with pytest.raises(routing.NotRoutable, match="already on the Case Team"):
        routing.case_route(actor=None, case=case)
    assert routing.cases_route_unassigned(actor=None) == {}


def test_only_third_party_cases_are_routed(northside, snap):
    agent("ana", northside)
    rule("r", organizations=[northside])
    case = make_case(status=Case.Status.APPROVED, program=snap)
    with pytest.raises(routing.NotRoutable, match="not Third-Party"):
        routing.case_route(actor=None, case=case)


def test_route_automatically_needs_the_route_permission(caseworker, snap):
    case = unassigned_case(program=snap)
    with pytest.raises(PermissionDenied):
        routing.case_route(actor=caseworker, case=case)
    with pytest.raises(PermissionDenied):
        routing.cases_route_unassigned(actor=caseworker)
    assert not RoutingDecision.objects.exists()


def test_bulk_routing_takes_every_unassigned_third_party_case(northside, snap):
    a = agent("ana", northside, max_open_cases=2)
    cases = [unassigned_case(program=snap) for _ in range(3)]
    make_case(status=Case.Status.APPROVED, program=snap)  # not in the queue
    rule("r", organizations=[northside])
    counts = routing.cases_route_unassigned(actor=None)
    assert counts == {Outcome.ASSIGNED: 2, Outcome.NO_CANDIDATE: 1}
    assert [active_partner(c) is not None for c in cases] == [True, True, False]
    for case in cases[:2]:
        decision = RoutingDecision.objects.get(case=case)
        assert active_partner(case).referral.routing_decision == decision
    assert a.user.case_memberships.filter(is_active=True).count() == 2
    assert list(routing.unassigned_cases()) == [cases[2]]


def test_the_route_unassigned_command_reports_what_it_did(northside, snap, capsys):
    agent("ana", northside)
    unassigned_case(program=snap)
    rule("r", organizations=[northside])
    call_command("route_unassigned")
    assert "1 assigned" in capsys.readouterr().out
    assert not routing.unassigned_cases().exists()


@pytest.mark.parametrize("pool_size", [1, 8])
def test_routing_one_case_takes_the_same_queries_whatever_the_pool_size(
    northside, snap, pool_size, django_assert_max_num_queries
):
    for i in range(pool_size):
        give_open_cases(agent(f"agent{i}", northside), 1)
    rule("r", organizations=[northside])
    case = unassigned_case(program=snap)
    rules = routing_selectors.ruleset()
    # 10 of the Assignment Manager (lock, history of referrals and of the team, lock agents,
    # workloads, the consents and emergency access of the pool's organizations, decision,
    # the referral linked to it, event) and savepoints; the rest is case_team_add, its
    # check of the client's consent (two queries), the agent's mark for My Cases' notices
    # of ended access, and its referral clearing any escalation of the case (39 for 1 or 8
    # agents in the pool).
    with django_assert_max_num_queries(39):
        routing_services._route(
            actor=None, case_pk=case.pk, trigger=RoutingDecision.Trigger.BULK, rules=rules
        )
    assert active_partner(case) is not None


# Expiry, re-routing and escalation ---------------------------------------------------------


def _route_to_first(northside, snap, **rule_fields):
    a, b = agent("ana", northside), agent("ben", northside)
    rule("r", organizations=[northside], response_window_hours=1, **rule_fields)
    case = unassigned_case(program=snap)
    routing.case_route(actor=None, case=case)
    return case, active_partner(case), a, b


def test_an_overdue_referral_expires_and_goes_to_the_next_candidate(northside, snap):
    case, first, a, b = _route_to_first(northside, snap)
    assert first.user == a.user
    due = first.referral.due_at
    assert routing.referrals_expire_overdue(now=due - timedelta(seconds=1)) == {}

    counts = routing.referrals_expire_overdue(now=due)
    assert counts == {"expired": 1, Outcome.ASSIGNED: 1}
    first.refresh_from_db()
    assert first.referral_state == State.EXPIRED
    assert first.referral.state == State.EXPIRED
    assert not first.is_active
    assert not a.user.has_perm("cases.view_case", case)
    second = active_partner(case)
    assert second.user == b.user
    assert second.referral_state == State.PENDING
    decision = routing.latest_routing_decision(case=case)
    assert decision.trigger == RoutingDecision.Trigger.EXPIRY
    assert decision.winner == b
    assert second.referral.replaces == first.referral
    assert second.referral.routing_decision == decision
    assert case.events.filter(verb=CaseEvent.Verb.EXPIRED).count() == 1


def test_expiring_is_idempotent(northside, snap):
    case, first, *_ = _route_to_first(northside, snap)
    # The job runs at the due time: the next referral it makes is due an hour after that.
    with mock.patch("django.utils.timezone.now", return_value=first.referral.due_at):
        assert routing.referrals_expire_overdue() == {"expired": 1, Outcome.ASSIGNED: 1}
        events = case.events.count()
        decisions = case.routing_decisions.count()
        referrals = case.referrals.count()
        assert routing.referrals_expire_overdue() == {}
    assert case.events.count() == events
    assert case.routing_decisions.count() == decisions
    assert case.referrals.count() == referrals


def test_when_nobody_is_left_the_case_is_escalated_to_its_owner(northside, snap):
    case, first, _a, _b = _route_to_first(northside, snap)
    routing.referrals_expire_overdue(now=first.referral.due_at)
    second = active_partner(case)
    lapsed = second.referral
    counts = routing.referrals_expire_overdue(now=lapsed.due_at)
    assert counts == {"expired": 1, Outcome.ESCALATED: 1}
    assert active_partner(case) is None
    decision = routing.latest_routing_decision(case=case)
    assert decision.outcome == Outcome.ESCALATED
    assert decision.explanation.startswith("Ben Agent let the referral expire and nobody else")
    assert "(2 let the referral expire)" in decision.explanation
    escalated = case.events.get(verb=CaseEvent.Verb.ESCALATED)
    assert escalated.data["decision"] == decision.pk
    assert case.status == Case.Status.THIRD_PARTY
    lapsed.refresh_from_db()
    assert lapsed.state == State.EXPIRED
    assert lapsed.escalated_at is not None
    item = InboxItem.objects.get(case=case, kind=InboxItem.Kind.ESCALATED)
    assert item.user == case.owner
    assert item.done_at is None


def test_a_rule_can_escalate_at_once_on_expiry(northside, snap):
    case, first, _, b = _route_to_first(northside, snap, on_expiry=AssignmentRule.OnExpiry.ESCALATE)
    assert routing.referrals_expire_overdue(now=first.referral.due_at) == {
        "expired": 1,
        Outcome.ESCALATED: 1,
    }
    assert not b.user.case_memberships.exists()
    assert "escalates to the case owner" in routing.latest_routing_decision(case=case).explanation
    first.referral.refresh_from_db()
    assert first.referral.escalated_at is not None
    assert InboxItem.objects.filter(
        case=case, user=case.owner, kind=InboxItem.Kind.ESCALATED
    ).exists()


def test_an_expired_referral_made_by_hand_is_escalated_without_a_rule(partner_agent, snap):
    case, member = make_referral(agent_user=partner_agent, program=snap)
    services.case_team_remove(actor=None, case=case, user=partner_agent)
    member = services.case_team_add(actor=None, case=case, user=partner_agent, response_hours=2)
    referral = member.referral
    assert routing.referrals_expire_overdue(now=referral.due_at) == {
        "expired": 1,
        Outcome.ESCALATED: 1,
    }
    assert case.events.filter(verb=CaseEvent.Verb.ESCALATED).exists()
    referral.refresh_from_db()
    assert referral.state == State.EXPIRED
    assert referral.escalated_at is not None
    assert InboxItem.objects.filter(
        case=case, user=case.owner, kind=InboxItem.Kind.ESCALATED
    ).exists()


def test_a_recalled_case_is_not_rerouted_when_its_old_referral_lapses(northside, snap):
    case, first, *_ = _route_to_first(northside, snap)
    services.case_transition(
        actor=UserFactory(username="factory-manager"), case=case, name="recall"
    )
    first.referral.refresh_from_db()
    assert first.referral.state == State.WITHDRAWN
    assert routing.referrals_expire_overdue(now=first.referral.due_at) == {}
    assert not InboxItem.objects.filter(case=case, kind=InboxItem.Kind.ESCALATED).exists()


def test_a_declined_routed_referral_goes_to_the_next_candidate(
    northside, snap, django_capture_on_commit_callbacks
):
    case, first, a, b = _route_to_first(northside, snap)
    with django_capture_on_commit_callbacks(execute=True):
        services.referral_decline(actor=a.user, referral=first.referral, reason="no_capacity")
    second = active_partner(case)
    assert second.user == b.user
    decision = routing.latest_routing_decision(case=case)
    assert decision.trigger == RoutingDecision.Trigger.DECLINE
    assert {c["name"]: c["excluded"] for c in decision.candidates}["Ana Agent"] == "declined"
    assert second.referral.replaces == first.referral
    assert second.referral.routing_decision == decision
    # The task is idempotent: running it again changes nothing.
    assert routing.referral_after_decline(referral_id=first.referral.pk) is None
    assert case.routing_decisions.count() == 2
    assert active_partner(case) == second


def test_a_referral_made_by_hand_and_declined_stays_with_the_owner(
    northside, snap, django_capture_on_commit_callbacks
):
    a = agent("ana", northside)
    agent("ben", northside)
    rule("r", organizations=[northside])
    case = unassigned_case(program=snap)
    member = services.case_team_add(actor=None, case=case, user=a.user)
    with django_capture_on_commit_callbacks(execute=True):
        services.referral_decline(actor=a.user, referral=member.referral, reason="conflict")
    assert active_partner(case) is None
    assert not case.routing_decisions.exists()
    assert not InboxItem.objects.filter(case=case, kind=InboxItem.Kind.ESCALATED).exists()


def test_the_route_expired_command_expires_and_reports(northside, snap, capsys):
    _case, first, *_ = _route_to_first(northside, snap)
    with mock.patch("django.utils.timezone.now", return_value=first.referral.due_at):
        call_command("route_expired")
    out = capsys.readouterr().out
    assert "1 expired" in out
    first.refresh_from_db()
    assert first.referral_state == State.EXPIRED
    assert first.referral.state == State.EXPIRED


# Dry run and demo --------------------------------------------------------------------------


def test_the_dry_run_predicts_routing_without_writing(northside, snap, medicaid):
    a = agent("ana", northside, max_open_cases=1)
    b = agent("ben", northside, max_open_cases=1)
    cases = [unassigned_case(program=snap) for _ in range(3)]
    other = unassigned_case(program=medicaid)
    r = rule("SNAP only", organizations=[northside], program=snap)
    before = (
        RoutingDecision.objects.count(),
        CaseEvent.objects.count(),
        CaseTeamMember.objects.count(),
    )
    run = routing.routing_dry_run(rule=r)
    assert (
        RoutingDecision.objects.count(),
        CaseEvent.objects.count(),
        CaseTeamMember.objects.count(),
    ) == before
    rows = {row.case: row for row in run.rows}
    assert rows[cases[0]].plan.winner.agent == a
    assert rows[cases[1]].plan.winner.agent == b
    assert rows[cases[2]].plan.winner is None  # both full by then
    assert not rows[other].matches
    assert (run.assigned, run.no_candidate, run.not_matched, run.queue_size) == (2, 1, 1, 4)
