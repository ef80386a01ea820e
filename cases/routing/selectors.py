"""Reads of the Assignment Manager: the rules, the unassigned queue, the decisions shown on
a case, and the dry run. Routing rules and decisions are agency data: the views that call
these are limited to users with `cases.route_case` (decisions also to agency staff on the
case page, through the case they already see)."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import cast

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from partners.models import PartnerAgent, PartnerOrganization

from .. import access
from ..languages import language_name
from ..models import AssignmentRule, Case, CaseTeamMember, Referral, RoutingDecision
from . import engine

State = Referral.State
OPEN_STATES = Referral.OPEN_STATES


@dataclass
class RuleSet:
    """The active rules in order, with the ids of each rule's pool, read once per run."""

    rules: list[AssignmentRule]
    org_ids: dict[int, frozenset[int]] = field(default_factory=dict)
    agent_ids: dict[int, frozenset[int]] = field(default_factory=dict)

    def pool_filter(self, rules: list[AssignmentRule]) -> Q:
        """The partner agents in the pools of `rules` (one query for all of them)."""
        org_ids = set().union(*(self.org_ids[r.pk] for r in rules))
        agent_ids = set().union(*(self.agent_ids[r.pk] for r in rules))
        return Q(organization_id__in=org_ids, role=PartnerAgent.Role.AGENT) | Q(pk__in=agent_ids)

    def pool_of(self, rule: AssignmentRule, agents: list[PartnerAgent]) -> list[PartnerAgent]:
        orgs, named = self.org_ids[rule.pk], self.agent_ids[rule.pk]
        return [a for a in agents if engine.pool_contains(rule, a, orgs, named)]


def ruleset(*, rules: QuerySet[AssignmentRule] | None = None) -> RuleSet:
    """The active rules (or `rules`) with their pools' ids: three queries."""
    if rules is None:
        rules = AssignmentRule.objects.filter(active=True)
    loaded = list(
        rules.select_related("program")
        .prefetch_related(
            Prefetch("organizations", queryset=PartnerOrganization.objects.only("pk")),
            Prefetch("agents", queryset=PartnerAgent.objects.only("pk")),
        )
        .order_by("order", "pk")
    )
    return RuleSet(
        rules=loaded,
        org_ids={r.pk: frozenset(o.pk for o in r.organizations.all()) for r in loaded},
        agent_ids={r.pk: frozenset(a.pk for a in r.agents.all()) for r in loaded},
    )


def open_referral_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    """Open referrals (active, pending or accepted) per user: one aggregate query."""
    rows = (
        CaseTeamMember.objects.filter(
            user_id__in=list(user_ids), is_active=True, referral_state__in=OPEN_STATES
        )
        .order_by()
        .values("user_id")
        .annotate(n=Count("pk"))
        .values_list("user_id", "n")
    )
    return dict(rows)


def case_partner_history(*, case_ids: Collection[int]) -> dict[int, dict[int, tuple[str, bool]]]:
    """Partner agents the cases were referred to: {case id: {user id: (state, on the team
    now)}}. An agent who ever declined or let a referral of the case expire is excluded
    from routing it again, whatever came after, so those states win over the latest."""
    history: dict[int, dict[int, tuple[str, bool]]] = {pk: {} for pk in case_ids}
    lapsed = {State.DECLINED, State.EXPIRED}
    referrals = (
        Referral.objects.filter(case_id__in=list(case_ids), agent__isnull=False)
        .order_by("pk")
        .values_list("case_id", "agent_id", "state")
    )
    for case_id, user_id, state in referrals:
        before = history[case_id].get(user_id, ("", False))[0]
        history[case_id][user_id] = (before if before in lapsed else state, False)
    active = CaseTeamMember.objects.filter(
        case_id__in=list(case_ids), role=CaseTeamMember.Role.PARTNER_AGENT, is_active=True
    ).values_list("case_id", "user_id")
    for case_id, user_id in active:
        state = history[case_id].get(user_id, ("", False))[0]
        history[case_id][user_id] = (state, True)
    return history


def routing_rules() -> QuerySet[AssignmentRule]:
    """Every rule, in order, with what the rules page shows (a fixed number of queries)."""
    return (
        AssignmentRule.objects.select_related("program")
        .prefetch_related(
            Prefetch("organizations", queryset=PartnerOrganization.objects.order_by("name")),
            Prefetch(
                "agents",
                queryset=PartnerAgent.objects.select_related("user", "organization"),
            ),
        )
        .order_by("order", "pk")
    )


def unassigned_cases() -> QuerySet[Case]:
    """Third-Party cases without an active partner agent on the Case Team, oldest first."""
    on_team = CaseTeamMember.objects.filter(
        case=OuterRef("pk"), is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT
    )
    return cast(
        "QuerySet[Case]",
        Case.objects.filter(status=Case.Status.THIRD_PARTY).filter(~Exists(on_team)).order_by("pk"),
    )


def latest_routing_decision(*, case: Case) -> RoutingDecision | None:
    """The newest routing decision of the case, for its "Why this agent" panel."""
    return (
        RoutingDecision.objects.filter(case=case)
        .select_related("rule", "winner__user", "winner__organization", "actor")
        .order_by("-created_at", "-pk")
        .first()
    )


def recent_decisions(*, limit: int = 15) -> QuerySet[RoutingDecision]:
    return RoutingDecision.objects.select_related(
        "case", "winner__user", "winner__organization", "actor"
    ).order_by("-created_at", "-pk")[:limit]


# Dry run -----------------------------------------------------------------------------------


@dataclass
class DryRunRow:
    case: Case
    matches: bool
    note: str = ""
    plan: engine.Plan | None = None
    earlier_rule: AssignmentRule | None = None

    @property
    def language(self) -> str:
        return language_name(self.case.language)


@dataclass
class DryRun:
    rule: AssignmentRule
    rows: list[DryRunRow]
    queue_size: int
    assigned: int = 0
    no_candidate: int = 0
    not_matched: int = 0
    taken_earlier: int = 0


def routing_dry_run(*, rule: AssignmentRule, limit: int = 100) -> DryRun:
    """What `rule` would do with the current unassigned queue (the oldest `limit` cases),
    with no writes: workloads and the round-robin turn advance only in memory, as they
    would when the cases are routed one after the other."""
    queue = unassigned_cases()
    cases = list(queue.select_related("program")[:limit])
    one = ruleset(rules=AssignmentRule.objects.filter(pk=rule.pk))
    the_rule = one.rules[0]
    active = ruleset()
    agents = list(
        PartnerAgent.objects.filter(one.pool_filter([the_rule]))
        .select_related("user", "organization")
        .order_by("pk")
    )
    pool = one.pool_of(the_rule, agents)
    open_counts = open_referral_counts(user_ids=[a.user_id for a in pool])
    history = case_partner_history(case_ids=[c.pk for c in cases])
    cursor = the_rule.round_robin_cursor
    organizations = {agent.organization_id: agent.organization for agent in pool}
    bases = access.disclosures(pairs=[(c.pk, o) for c in cases for o in organizations.values()])
    result = DryRun(rule=the_rule, rows=[], queue_size=queue.count())
    for case in cases:
        mismatch = engine.rule_mismatch(the_rule, case)
        if mismatch:
            result.not_matched += 1
            result.rows.append(DryRunRow(case=case, matches=False, note=mismatch.capitalize()))
            continue
        earlier = next(
            (
                r
                for r in active.rules
                if (r.order, r.pk) < (the_rule.order, the_rule.pk)
                and not engine.rule_mismatch(r, case)
            ),
            None,
        )
        if earlier is not None:
            result.taken_earlier += 1
        plan = engine.plan(
            case=case,
            program_code=case.program.code,
            rules=[the_rule],
            pools={the_rule.pk: pool},
            open_counts=open_counts,
            history=history[case.pk],
            cursors={the_rule.pk: cursor},
            consented=frozenset(o for o in organizations if bases[case.pk, o].open),
        )
        if plan.winner is not None:
            result.assigned += 1
            open_counts[plan.winner.agent.user_id] = plan.winner.open + 1
            cursor = plan.winner.agent.pk
        else:
            result.no_candidate += 1
        result.rows.append(DryRunRow(case=case, matches=True, plan=plan, earlier_rule=earlier))
    return result
