"""Writes of the Assignment Manager.

Routing one case is one transaction that locks what it reads, always in the same order:
the case row, then the candidate agents' `PartnerAgent` rows by primary key, then (round
robin) the rule rows. Workloads are counted after those locks are held, so concurrent
routers never assign a case twice and never push an agent past `max_open_cases`. The
assignment itself is `services.case_team_add`, the same service as a manual assignment
(team, object permissions, event, notification).
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max

from accounts.people import display_name
from casesite import clock
from partners.models import PartnerAgent

from .. import access, notifications, services
from ..inbox import services as inbox
from ..models import (
    AssignmentRule,
    Case,
    CaseEvent,
    InboxItem,
    Referral,
    RoutingDecision,
)
from . import engine, selectors

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import Model, QuerySet

    from partners.models import PartnerOrganization

    from ..models import CaseTeamMember

logger = logging.getLogger(__name__)

Outcome = RoutingDecision.Outcome
Trigger = RoutingDecision.Trigger
State = Referral.State
ROUTE_PERMISSION = "cases.route_case"


class NotRoutable(Exception):
    """The case is not (any more) an unassigned Third-Party case."""


def _require_route_permission(actor: "User | None") -> None:
    if actor is not None and not actor.has_perm(ROUTE_PERMISSION):
        raise PermissionDenied("You may not route cases.")


def _lock_case(case_pk: int, *, skip_locked: bool = False) -> Case | None:
    """The case row, locked (None if another router holds it and `skip_locked`)."""
    skip = skip_locked and connection.features.has_select_for_update_skip_locked
    return cast(
        "Case | None",
        Case.objects.select_for_update(skip_locked=skip, of=("self",))
        .select_related("program", "owner")
        .filter(pk=case_pk)
        .first(),
    )


def _history(case: Case) -> dict[int, tuple[str, bool]]:
    return selectors.case_partner_history(case_ids=[case.pk])[case.pk]


@dataclass
class LockedPools:
    """The candidate agents of some rules, locked, with their workloads and the round-robin
    turns. While the transaction lasts nobody else can assign them a case, so the counts
    stay exact as this router adds to them."""

    pools: dict[int, list[PartnerAgent]] = field(default_factory=dict)
    open_counts: dict[int, int] = field(default_factory=dict)
    cursors: dict[int, int] = field(default_factory=dict)

    def assigned(self, plan: engine.Plan) -> None:
        """Count an assignment just made."""
        user_id = cast(engine.Candidate, plan.winner).agent.user_id
        self.open_counts[user_id] = self.open_counts.get(user_id, 0) + 1
        if cast(AssignmentRule, plan.rule).strategy == AssignmentRule.Strategy.ROUND_ROBIN:
            self.cursors[cast(AssignmentRule, plan.rule).pk] = cast(
                engine.Candidate, plan.winner
            ).agent.pk


def _lock_pools(*, rules: selectors.RuleSet, matching: list[AssignmentRule]) -> LockedPools:
    """Lock the agents of the rules' pools (by primary key: every router takes them in the
    same order, so routers cannot deadlock), then read their workloads in one aggregate."""
    if not matching:
        return LockedPools()
    agents = list(
        PartnerAgent.objects.filter(rules.pool_filter(matching))
        .select_related("user", "organization")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    # Counted in a statement that starts after the locks are granted: a statement that had
    # to wait for them would count from a snapshot taken before the other router's
    # assignment committed.
    locked = LockedPools(
        pools={rule.pk: rules.pool_of(rule, agents) for rule in matching},
        open_counts=selectors.open_referral_counts(user_ids=[a.user_id for a in agents]),
    )
    turn = [r.pk for r in matching if r.strategy == AssignmentRule.Strategy.ROUND_ROBIN]
    if turn:
        locked.cursors = dict(
            AssignmentRule.objects.select_for_update()
            .filter(pk__in=turn)
            .order_by("pk")
            .values_list("pk", "round_robin_cursor")
        )
    return locked


def _matching(rules: selectors.RuleSet, case: Case) -> list[AssignmentRule]:
    return [rule for rule in rules.rules if not engine.rule_mismatch(rule, case)]


def _plan(
    *,
    case: Case,
    matching: list[AssignmentRule],
    locked: LockedPools,
    history: dict[int, tuple[str, bool]],
    consented: frozenset[int],
) -> engine.Plan:
    return engine.plan(
        case=case,
        program_code=case.program.code,
        rules=matching,
        pools=locked.pools,
        open_counts=locked.open_counts,
        history=history,
        cursors=locked.cursors,
        consented=consented,
    )


def _consented(*, cases: list[Case], locked: LockedPools) -> dict[int, frozenset[int]]:
    """For each case, the pools' organizations that a consent (or an emergency access)
    lets see it now: two queries for any number of cases."""
    organizations = {
        agent.organization_id: agent.organization
        for pool in locked.pools.values()
        for agent in pool
    }
    bases = access.disclosures(
        pairs=[(case.pk, o) for case in cases for o in organizations.values()]
    )
    return {
        case.pk: frozenset(o for o in organizations if bases[case.pk, o].open) for case in cases
    }


def _plan_locked(
    *, case: Case, rules: selectors.RuleSet, history: dict[int, tuple[str, bool]]
) -> engine.Plan:
    """Decide for a case whose row is locked: lock the candidate agents, then count."""
    matching = _matching(rules, case)
    locked = _lock_pools(rules=rules, matching=matching)
    consented = _consented(cases=[case], locked=locked)[case.pk]
    return _plan(case=case, matching=matching, locked=locked, history=history, consented=consented)


def _decision(
    *, actor: "User | None", case: Case, trigger: str, plan: engine.Plan, **overrides: Any
) -> RoutingDecision:
    rule = plan.rule
    fields: dict[str, Any] = {
        "case": case,
        "rule": rule,
        "rule_name": rule.name if rule else "",
        "trigger": trigger,
        "outcome": plan.outcome,
        "candidates": plan.candidates_json(),
        "winner": plan.winner.agent if plan.winner else None,
        "explanation": plan.explanation,
        "actor": actor,
    }
    fields.update(overrides)
    return RoutingDecision(**fields)


def _record(
    *, actor: "User | None", case: Case, trigger: str, plan: engine.Plan, **overrides: Any
) -> RoutingDecision:
    decision = _decision(actor=actor, case=case, trigger=trigger, plan=plan, **overrides)
    decision.save()
    return decision


def _routed_event(
    *, actor: "User | None", decision: RoutingDecision, plan: engine.Plan
) -> CaseEvent:
    return CaseEvent(
        case=decision.case,
        actor=actor,
        verb=CaseEvent.Verb.ROUTED,
        data={
            "rule": cast(AssignmentRule, plan.rule).name,
            "agent": cast(engine.Candidate, plan.winner).name,
            "organization": cast(engine.Candidate, plan.winner).agent.organization.name,
            "explanation": plan.explanation,
            "decision": decision.pk,
        },
    )


def _assign(
    *, actor: "User | None", case: Case, plan: engine.Plan, replaces: Referral | None = None
) -> "CaseTeamMember":
    """The assignment itself: the same service as adding an agent by hand."""
    return services.case_team_add(
        actor=actor,
        case=case,
        user=cast(engine.Candidate, plan.winner).agent.user,
        response_hours=cast(AssignmentRule, plan.rule).response_window_hours,
        event_data={"routed": True, "rule": cast(AssignmentRule, plan.rule).name},
        replaces=replaces,
    )


def _link_decision(decision: RoutingDecision, *, pairs: list[tuple[int, int]]) -> None:
    """The new pending referrals of (case id, agent user id) pairs name the decision that
    made them."""
    for case_id, user_id in pairs:
        Referral.objects.filter(
            case_id=case_id, agent_id=user_id, state=State.PENDING, routing_decision=None
        ).update(routing_decision=decision)


def _apply(
    *,
    actor: "User | None",
    case: Case,
    trigger: str,
    plan: engine.Plan,
    replaces: Referral | None = None,
) -> RoutingDecision:
    """Carry out a plan on a locked case and record the decision."""
    if plan.outcome != Outcome.ASSIGNED:
        return _record(actor=actor, case=case, trigger=trigger, plan=plan)
    _assign(actor=actor, case=case, plan=plan, replaces=replaces)
    if cast(AssignmentRule, plan.rule).strategy == AssignmentRule.Strategy.ROUND_ROBIN:
        AssignmentRule.objects.filter(pk=cast(AssignmentRule, plan.rule).pk).update(
            round_robin_cursor=cast(engine.Candidate, plan.winner).agent.pk
        )
    decision = _record(actor=actor, case=case, trigger=trigger, plan=plan)
    _link_decision(decision, pairs=[(case.pk, cast(engine.Candidate, plan.winner).agent.user_id)])
    cast("Model", _routed_event(actor=actor, decision=decision, plan=plan)).save()
    return decision


def _escalate(
    *,
    actor: "User | None",
    case: Case,
    trigger: str,
    reason: str,
    plan: engine.Plan | None = None,
    lapsed: Referral | None = None,
) -> RoutingDecision:
    """Hand the case back to its owner: decision, ESCALATED event, an item in the owner's
    Inbox, email. The lapsed referral, if any, records when it came back."""

    plan = plan or engine.Plan(outcome=Outcome.ESCALATED)
    decision = _record(
        actor=actor,
        case=case,
        trigger=trigger,
        plan=plan,
        outcome=Outcome.ESCALATED,
        winner=None,
        explanation=reason,
    )
    CaseEvent.objects.create(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.ESCALATED,
        data={"owner": display_name(case.owner), "reason": reason, "decision": decision.pk},
    )
    inbox.inbox_item_add(
        user=case.owner, case=case, kind=InboxItem.Kind.ESCALATED, text=reason[:300]
    )
    if lapsed is not None:
        Referral.objects.filter(pk=lapsed.pk).update(escalated_at=clock.now(), with_owner=True)
    notifications.notify_escalation(case=case, decision=decision)
    return decision


def _route(
    *,
    actor: "User | None",
    case_pk: int,
    trigger: str,
    rules: selectors.RuleSet,
    skip_locked: bool = False,
) -> RoutingDecision | None:
    with transaction.atomic():
        case = _lock_case(case_pk, skip_locked=skip_locked)
        if case is None:
            return None  # another router has it right now
        if case.status != Case.Status.THIRD_PARTY:
            raise NotRoutable(f"The case is {case.get_status_display()}, not Third-Party.")
        history = _history(case)
        if any(active for _, active in history.values()):
            raise NotRoutable("A partner agent is already on the Case Team.")
        plan = _plan_locked(case=case, rules=rules, history=history)
        return _apply(actor=actor, case=case, trigger=trigger, plan=plan)


# Entry points ------------------------------------------------------------------------------


def case_route(*, actor: "User | None", case: Case) -> RoutingDecision:
    """Route Automatically on one case. Raises PermissionDenied without
    `cases.route_case`, NotRoutable unless it is an unassigned Third-Party case."""
    _require_route_permission(actor)
    return cast(
        RoutingDecision,
        _route(actor=actor, case_pk=case.pk, trigger=Trigger.MANUAL, rules=selectors.ruleset()),
    )


def route_after_refer(*, case: Case, actor: "User | None") -> None:
    """Hook run by `case_transition` after "refer" when no partner agent is on the team.
    The case row is already locked by that transaction. A routing failure must not undo
    the referral, so it runs in a savepoint and is logged."""
    rules = selectors.ruleset()
    if not rules.rules:
        return  # the Assignment Manager has no active rule: nothing to decide
    try:
        with transaction.atomic():
            locked = cast(Case, _lock_case(case.pk))
            plan = _plan_locked(case=locked, rules=rules, history=_history(locked))
            _apply(actor=actor, case=locked, trigger=Trigger.REFERRAL, plan=plan)
    except Exception:
        logger.exception("Automatic routing failed for case %s", case.pk)


BULK_CHUNK = 25


def cases_route_unassigned(
    *,
    actor: "User | None",
    limit: int | None = None,
    cases: "QuerySet[Case] | None" = None,
    chunk_size: int = BULK_CHUNK,
) -> Counter[str]:
    """Route every unassigned Third-Party case, oldest first. `cases` narrows the queue
    (a Case queryset). Returns counts by outcome.

    The queue is worked in chunks of cases that the same rule takes first, one
    transaction per chunk: the chunk's case rows are locked with SKIP LOCKED (a chunk
    another router holds is skipped, so several routers share one queue), then the pools
    of the chunk's matching rules are locked once and their workloads counted once, and
    the count is kept up to date in memory as the chunk's cases are assigned. Chunks of
    the different rules are interleaved, so routers working the same queue soon hold
    chunks of different pools and run side by side."""
    _require_route_permission(actor)
    rules = selectors.ruleset()
    queue = selectors.unassigned_cases()
    if cases is not None:
        queue = queue.filter(pk__in=cases.values("pk"))
    rows = queue.values_list("pk", "program_id", "region", "language", "priority")
    counts: Counter[str] = Counter()
    for chunk in _chunks_by_rule(list(rows[:limit] if limit else rows), rules, chunk_size):
        counts.update(_route_chunk(actor=actor, case_pks=chunk, rules=rules))
    return counts


def _chunks_by_rule(
    rows: list[tuple[int, int, str, str, str]], rules: selectors.RuleSet, size: int
) -> list[list[int]]:
    """Case ids grouped by the first rule matching them, cut in chunks, the rules'
    chunks interleaved (A1, B1, A2, B2, ...)."""
    groups: dict[int | None, list[int]] = defaultdict(list)
    for pk, program_id, region, language, priority in rows:
        probe = Case(program_id=program_id, region=region, language=language, priority=priority)
        first = next((r.pk for r in rules.rules if not engine.rule_mismatch(r, probe)), None)
        groups[first].append(pk)
    per_rule = [[ids[i : i + size] for i in range(0, len(ids), size)] for ids in groups.values()]
    return [chunk for round_ in zip_longest(*per_rule) for chunk in round_ if chunk]


def _route_chunk(
    *, actor: "User | None", case_pks: list[int], rules: selectors.RuleSet
) -> Counter[str]:
    counts: Counter[str] = Counter()
    skip = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        cases = list(
            Case.objects.select_for_update(skip_locked=skip, of=("self",))
            .select_related("program", "owner")
            .filter(pk__in=case_pks, status=Case.Status.THIRD_PARTY)
            .order_by("pk")
        )
        # Read after the case locks: a case another router assigned is seen as assigned.
        histories = selectors.case_partner_history(case_ids=[c.pk for c in cases])
        todo = [
            case for case in cases if not any(active for _, active in histories[case.pk].values())
        ]
        if len(todo) < len(case_pks):
            counts["skipped"] += len(case_pks) - len(todo)
        if not todo:
            return counts
        matching = {case.pk: _matching(rules, case) for case in todo}
        needed = {rule.pk: rule for case in todo for rule in matching[case.pk]}
        locked = _lock_pools(rules=rules, matching=list(needed.values()))
        planned: list[tuple[Case, engine.Plan]] = []
        consented = _consented(cases=todo, locked=locked)
        for case in todo:
            plan = _plan(
                case=case,
                matching=matching[case.pk],
                locked=locked,
                history=histories[case.pk],
                consented=consented[case.pk],
            )
            if plan.outcome == Outcome.ASSIGNED:
                locked.assigned(plan)
            planned.append((case, plan))
        failed, referrals = _assign_all(actor=actor, planned=planned, histories=histories)
        done: list[tuple[RoutingDecision, engine.Plan]] = []
        for case, plan in planned:
            if case.pk in failed:
                counts["errors"] += 1
                continue
            decision = _decision(actor=actor, case=case, trigger=Trigger.BULK, plan=plan)
            done.append((decision, plan))
            counts[plan.outcome] += 1
        RoutingDecision.objects.bulk_create([decision for decision, _ in done])
        linked = []
        for decision, _ in done:
            referral = referrals.get(decision.case_id)
            if referral is not None:
                referral.routing_decision = decision
                linked.append(referral)
        Referral.objects.bulk_update(linked, ["routing_decision"])
        CaseEvent.objects.bulk_create(
            [
                _routed_event(actor=actor, decision=decision, plan=plan)
                for decision, plan in done
                if plan.outcome == Outcome.ASSIGNED
            ]
        )
        for rule_pk, cursor in locked.cursors.items():
            AssignmentRule.objects.filter(pk=rule_pk).update(round_robin_cursor=cursor)
    return counts


def _assign_all(
    *,
    actor: "User | None",
    planned: list[tuple[Case, engine.Plan]],
    histories: dict[int, dict[int, tuple[str, bool]]],
) -> tuple[set[int], dict[int, Referral]]:
    """Carry out a chunk's assignments: all at once with `case_team_add_many`, except an
    agent who already has a row on the case's team (re-referred through `case_team_add`).
    Should the batch fail, one by one, so that one bad case does not hold up the others.
    The ids of the cases that could not be assigned (their agents were counted as assigned
    while the chunk was planned: the chunk may fill them one case short, never past their
    capacity), and the new referral of each case assigned."""
    assigned = [(case, plan) for case, plan in planned if plan.outcome == Outcome.ASSIGNED]
    fresh = [
        (c, p)
        for c, p in assigned
        if cast(engine.Candidate, p.winner).agent.user_id not in histories[c.pk]
    ]
    one_by_one = [
        (c, p)
        for c, p in assigned
        if cast(engine.Candidate, p.winner).agent.user_id in histories[c.pk]
    ]
    referrals: dict[int, Referral] = {}
    try:
        members = services.case_team_add_many(
            actor=actor,
            assignments=[
                services.TeamAssignment(
                    case=case,
                    agent=cast(engine.Candidate, plan.winner).agent,
                    response_hours=cast(AssignmentRule, plan.rule).response_window_hours,
                    event_data={"routed": True, "rule": cast(AssignmentRule, plan.rule).name},
                )
                for case, plan in fresh
            ],
        )
        referrals.update((member.case_id, cast(Referral, member.referral)) for member in members)
    except Exception:  # rolled back to its savepoint
        logger.exception("Assigning %s cases at once failed; one by one instead", len(fresh))
        one_by_one = assigned
    failed: set[int] = set()
    for case, plan in one_by_one:
        try:
            referrals[case.pk] = cast(Referral, _assign(actor=actor, case=case, plan=plan).referral)
        except Exception:  # rolled back to case_team_add's savepoint; go on
            logger.exception("Routing case %s failed", case.pk)
            failed.add(case.pk)
    return failed, referrals


def _after_lapse(
    *, case: Case, referral: Referral, trigger: str, rules: selectors.RuleSet
) -> RoutingDecision | None:
    """A referral was declined or expired (case row locked): route to the next candidate
    or escalate to the case owner, as the rule that routed it says.

    A referral made by hand and then declined is left to the case owner (who chose the
    agent and has the decline in the Inbox); one that expired follows the first matching
    rule, and is escalated when no rule matches. The new referral replaces the lapsed one."""
    if case.status != Case.Status.THIRD_PARTY:
        return None
    history = _history(case)
    if any(active for _, active in history.values()):
        return None  # somebody else already has the case
    if case.referrals.filter(state__in=Referral.OPEN_STATES).exists():
        return None  # an organization's intake queue has it
    origin = referral.routing_decision
    if origin is None and trigger == Trigger.DECLINE:
        return None
    rule = next((r for r in rules.rules if origin and r.pk == origin.rule_id), None)
    rule = rule or next((r for r in rules.rules if not engine.rule_mismatch(r, case)), None)
    what = "declined the referral" if trigger == Trigger.DECLINE else "let the referral expire"
    who = display_name(referral.agent) if referral.agent else referral.organization.name
    if rule is None:
        reason = f"{who} {what} and no active routing rule matches this case."
        return _escalate(actor=None, case=case, trigger=trigger, reason=reason, lapsed=referral)
    if rule.on_expiry == AssignmentRule.OnExpiry.ESCALATE:
        reason = f"{who} {what}; rule “{rule.name}” escalates to the case owner."
        plan = engine.Plan(outcome=Outcome.ESCALATED, rule=rule)
        return _escalate(
            actor=None, case=case, trigger=trigger, reason=reason, plan=plan, lapsed=referral
        )
    plan = _plan_locked(case=case, rules=rules, history=history)
    if plan.outcome == Outcome.ASSIGNED:
        return _apply(actor=None, case=case, trigger=trigger, plan=plan, replaces=referral)
    reason = f"{who} {what} and nobody else can take the case. {plan.explanation}"
    return _escalate(
        actor=None, case=case, trigger=trigger, reason=reason, plan=plan, lapsed=referral
    )


def referrals_expire_overdue(
    *, now: datetime | None = None, limit: int | None = None, ids: Iterable[int] | None = None
) -> Counter[str]:
    """Expire every pending referral past its due time (`services.referral_expire`: FSM
    transition, event, owner email), then re-route or escalate each case. Idempotent: a
    second run finds nothing due. One transaction per referral. `ids` narrows the run to
    those referrals."""
    now = now or clock.now()
    due = Referral.objects.filter(state=State.PENDING, due_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=list(ids))
    due = due.order_by("due_at", "pk").values_list("pk", "case_id")
    rules = selectors.ruleset()
    counts: Counter[str] = Counter()
    for referral_pk, case_pk in list(due[:limit] if limit else due):
        try:
            with transaction.atomic():
                case = cast(Case, _lock_case(case_pk))
                referral = Referral.objects.select_related(
                    "agent", "organization", "routing_decision"
                ).get(pk=referral_pk)
                if not services.referral_expire(referral=referral, now=now):
                    counts["skipped"] += 1
                    continue
                counts["expired"] += 1
                decision = _after_lapse(
                    case=case, referral=referral, trigger=Trigger.EXPIRY, rules=rules
                )
                counts[decision.outcome if decision else "left"] += 1
        except Exception:
            logger.exception("Expiring referral %s failed", referral_pk)
            counts["errors"] += 1
    return counts


def referral_after_decline(*, referral_id: int) -> RoutingDecision | None:
    """Run by the task worker after a decline committed: re-route or escalate. Idempotent:
    nothing happens if the case was routed or escalated since the decline."""
    with transaction.atomic():
        referral = (
            Referral.objects.select_related("agent", "organization", "routing_decision")
            .filter(pk=referral_id)
            .first()
        )
        if referral is None or referral.state != State.DECLINED:
            return None
        case = cast(Case, _lock_case(referral.case_id))
        since = referral.responded_at or referral.requested_at
        if case.routing_decisions.filter(created_at__gte=since).exists():
            return None
        return _after_lapse(
            case=case, referral=referral, trigger=Trigger.DECLINE, rules=selectors.ruleset()
        )


# Rules -------------------------------------------------------------------------------------


RULE_FIELDS = (
    "name",
    "active",
    "program",
    "region",
    "language",
    "priority",
    "match_language",
    "match_program",
    "strategy",
    "response_window_hours",
    "on_expiry",
)


def _set_rule_fields(rule: AssignmentRule, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"Not rule fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.region = (rule.region or "").strip()
    if not (rule.response_window_hours or 0) >= 1:
        raise ValidationError("The response window is at least one hour.")


@transaction.atomic
def assignment_rule_create(
    *,
    actor: "User | None",
    organizations: "Iterable[PartnerOrganization]" = (),
    agents: Iterable[PartnerAgent] = (),
    **fields: Any,
) -> AssignmentRule:
    """A new rule, tried after the existing ones."""
    _require_route_permission(actor)
    if not organizations and not agents:
        raise ValidationError("Choose at least one partner organization or partner agent.")
    rule = AssignmentRule()
    _set_rule_fields(rule, fields)
    last = AssignmentRule.objects.select_for_update().aggregate(m=Max("order"))["m"]
    rule.order = (last or 0) + 1
    rule.save()
    rule.organizations.set(organizations)
    rule.agents.set(agents)
    return rule


@transaction.atomic
def assignment_rule_update(
    *,
    actor: "User | None",
    rule: AssignmentRule,
    organizations: "Iterable[PartnerOrganization]" = (),
    agents: Iterable[PartnerAgent] = (),
    **fields: Any,
) -> AssignmentRule:
    _require_route_permission(actor)
    if not organizations and not agents:
        raise ValidationError("Choose at least one partner organization or partner agent.")
    rule = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
    _set_rule_fields(rule, fields)
    rule.save()
    rule.organizations.set(organizations)
    rule.agents.set(agents)
    return rule


@transaction.atomic
def assignment_rule_set_active(
    *, actor: "User | None", rule: AssignmentRule, active: bool
) -> AssignmentRule:
    _require_route_permission(actor)
    AssignmentRule.objects.filter(pk=rule.pk).update(active=active, updated_at=clock.now())
    rule.active = active
    return rule


@transaction.atomic
def assignment_rule_move(*, actor: "User | None", rule: AssignmentRule, direction: str) -> None:
    """Move a rule one place up or down; orders are renumbered 1..n."""
    _require_route_permission(actor)
    if direction not in ("up", "down"):
        raise ValidationError("Move a rule up or down.")
    rules = list(AssignmentRule.objects.select_for_update().order_by("order", "pk"))
    index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    for position, item in enumerate(rules, start=1):
        item.order = position
    AssignmentRule.objects.bulk_update(rules, ["order"])
