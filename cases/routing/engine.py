"""The Assignment Manager's decision as plain Python over data already read (and, when
routing for real, locked): which rule takes the case, which candidates are eligible and why
the others are not, who wins, and the sentence that explains it.

Nothing here touches the database, so the real router and the dry run decide alike.
"""

from collections import Counter
from dataclasses import dataclass, field

from accounts.people import display_name
from partners.models import PartnerAgent

from ..languages import language_name
from ..models import AssignmentRule, Case, Referral, RoutingDecision

State = Referral.State
Strategy = AssignmentRule.Strategy

# Why a candidate was left out: key -> how the summary counts it.
EXCLUSIONS = {
    "declined": "declined this case",
    "expired": "let the referral expire",
    "on_team": "already on the Case Team",
    "organization_inactive": "organization not active",
    "no_consent": "without a consent of the client",
    "user_inactive": "account not active",
    "unavailable": "not available",
    "at_capacity": "at capacity",
    "language": "without the case language",
    "program": "without the case program",
}


def rule_mismatch(rule: AssignmentRule, case: Case) -> str:
    """Empty when the rule's criteria accept the case, else what differs."""
    if rule.program_id and rule.program_id != case.program_id:
        return "program differs"
    if rule.region and rule.region.strip().casefold() != (case.region or "").strip().casefold():
        return f"region is not {rule.region}"
    if rule.language and rule.language.lower() != (case.language or "").lower():
        return f"language is not {language_name(rule.language)}"
    if rule.priority and rule.priority != case.priority:
        return f"priority is not {rule.get_priority_display()}"
    return ""


def pool_contains(rule: AssignmentRule, agent: PartnerAgent, org_ids, agent_ids) -> bool:
    """Organizations contribute their partner agents; named agents count whatever their role."""
    if agent.pk in agent_ids:
        return True
    return agent.organization_id in org_ids and agent.role == PartnerAgent.Role.AGENT


@dataclass
class Candidate:
    """One partner agent as a rule saw them."""

    agent: PartnerAgent
    rule: str
    open: int
    capacity: int
    excluded: str = ""  # a key of EXCLUSIONS, empty when eligible
    reason: str = ""  # the human sentence for `excluded`
    score: float | None = None
    rank: int | None = None

    @property
    def name(self) -> str:
        return display_name(self.agent.user)

    def as_json(self) -> dict:
        return {
            "rule": self.rule,
            "agent": self.agent.pk,
            "name": self.name,
            "organization": self.agent.organization.name,
            "open": self.open,
            "capacity": self.capacity,
            "score": self.score,
            "rank": self.rank,
            "excluded": self.excluded,
            "reason": self.reason,
        }


@dataclass
class Plan:
    """What routing would do for one case."""

    outcome: str
    rule: AssignmentRule | None = None
    winner: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    explanation: str = ""

    def candidates_json(self) -> list[dict]:
        return [c.as_json() for c in self.candidates]


def _speaks(agent: PartnerAgent, language: str) -> bool:
    languages = agent.languages or agent.organization.languages or []
    return (language or "").lower() in {str(code).lower() for code in languages}


def _serves(agent: PartnerAgent, program_code: str) -> bool:
    programs = agent.programs or agent.organization.programs_served or []
    return program_code.lower() in {str(code).lower() for code in programs}


def evaluate(
    *,
    rule: AssignmentRule,
    case: Case,
    program_code: str,
    agents: list[PartnerAgent],
    open_counts: dict[int, int],
    history: dict[int, tuple[str, bool]],
    consented: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """Every agent of the rule's pool with the reason it is excluded, if any.

    `consented`: the organizations the client's consent (or an emergency access) lets see
    the case now; no agent of another organization is referred it.

    `open_counts`: open referrals (pending or accepted, active) per user id.
    `history`: this case's partner-agent rows per user id: (referral state, is active)."""
    candidates = []
    for agent in agents:
        open_now = open_counts.get(agent.user_id, 0)
        candidate = Candidate(
            agent=agent, rule=rule.name, open=open_now, capacity=agent.max_open_cases
        )
        state, active = history.get(agent.user_id, ("", False))
        if state == State.DECLINED:
            candidate.excluded, candidate.reason = "declined", "Declined this case"
        elif state == State.EXPIRED:
            candidate.excluded, candidate.reason = "expired", "Let this case's referral expire"
        elif active:
            candidate.excluded, candidate.reason = "on_team", "Already on the Case Team"
        elif not agent.organization.active:
            candidate.excluded, candidate.reason = (
                "organization_inactive",
                "Organization not active",
            )
        elif agent.organization_id not in consented:
            candidate.excluded = "no_consent"
            candidate.reason = "No active consent of the client covers this organization"
        elif not agent.user.is_active:
            candidate.excluded, candidate.reason = "user_inactive", "Account not active"
        elif not agent.available:
            candidate.excluded, candidate.reason = "unavailable", "Not available"
        elif open_now >= agent.max_open_cases:
            candidate.excluded = "at_capacity"
            candidate.reason = f"At capacity: {open_now} of {agent.max_open_cases} open cases"
        elif rule.match_language and not _speaks(agent, case.language):
            candidate.excluded = "language"
            candidate.reason = f"Does not speak {language_name(case.language)}"
        elif rule.match_program and not _serves(agent, program_code):
            candidate.excluded, candidate.reason = "program", f"Does not serve {program_code}"
        candidates.append(candidate)
    return candidates


def choose(*, rule: AssignmentRule, eligible: list[Candidate], cursor: int = 0) -> Candidate | None:
    """Score the eligible candidates by the rule's strategy; return the winner.

    Least loaded: the lowest share of capacity in use (open / max_open_cases), then the
    fewest open cases, then the oldest profile. Round robin: the agents in primary-key order,
    starting after the one assigned last (`cursor`), wrapping around."""
    if not eligible:
        return None
    if rule.strategy == Strategy.ROUND_ROBIN:
        ordered = sorted(eligible, key=lambda c: c.agent.pk)
        start = next((i for i, c in enumerate(ordered) if c.agent.pk > cursor), 0)
        ordered = ordered[start:] + ordered[:start]
        for position, candidate in enumerate(ordered):
            candidate.score = float(position)
    else:
        for candidate in eligible:
            candidate.score = round(candidate.open / candidate.capacity, 4)
        ordered = sorted(eligible, key=lambda c: (c.score, c.open, c.agent.pk))
    for rank, candidate in enumerate(ordered, start=1):
        candidate.rank = rank
    return ordered[0]


def explain(
    *, rule: AssignmentRule, winner: Candidate, case: Case, program_code: str, eligible: int
) -> str:
    """'Least loaded: 2 of 25 open cases; speaks Spanish; serves SNAP'."""
    load = f"{winner.open} of {winner.capacity} open cases"
    if rule.strategy == Strategy.ROUND_ROBIN:
        agents = f"{eligible} eligible agent{'s' if eligible != 1 else ''}"
        parts = [f"Round robin: next in turn of {agents}", load]
    else:
        parts = [f"Least loaded: {load}"]
    if rule.match_language:
        parts.append(f"speaks {language_name(case.language)}")
    if rule.match_program:
        parts.append(f"serves {program_code}")
    return "; ".join(parts)


def summarize_exclusions(candidates: list[Candidate]) -> str:
    """'2 at capacity, 1 declined this case' (or 'the pool is empty')."""
    if not candidates:
        return "the candidate pool is empty"
    counts = Counter(c.excluded for c in candidates if c.excluded)
    return ", ".join(f"{n} {EXCLUSIONS[key]}" for key, n in counts.most_common())


def plan(
    *,
    case: Case,
    program_code: str,
    rules: list[AssignmentRule],
    pools: dict[int, list[PartnerAgent]],
    open_counts: dict[int, int],
    history: dict[int, tuple[str, bool]],
    cursors: dict[int, int] | None = None,
    consented: frozenset[int] = frozenset(),
) -> Plan:
    """Try the matching rules in order; the first with an eligible candidate assigns.

    `rules` are the active rules in order (non-matching ones are skipped here), `pools`
    the pool of each rule by rule id."""
    cursors = cursors or {}
    matching = [rule for rule in rules if not rule_mismatch(rule, case)]
    if not matching:
        return Plan(
            outcome=RoutingDecision.Outcome.NO_RULE,
            explanation=(
                "No active rule matches this case "
                f"(program {program_code}, region {case.region or 'none'}, "
                f"language {language_name(case.language)}, "
                f"priority {case.get_priority_display()})."
            ),
        )
    considered: list[Candidate] = []
    passed_over: list[str] = []
    for rule in matching:
        candidates = evaluate(
            rule=rule,
            case=case,
            program_code=program_code,
            agents=pools.get(rule.pk, []),
            open_counts=open_counts,
            history=history,
            consented=consented,
        )
        considered.extend(candidates)
        eligible = [c for c in candidates if not c.excluded]
        winner = choose(rule=rule, eligible=eligible, cursor=cursors.get(rule.pk, 0))
        if winner is None:
            passed_over.append(f"rule “{rule.name}” ({summarize_exclusions(candidates)})")
            continue
        explanation = explain(
            rule=rule,
            winner=winner,
            case=case,
            program_code=program_code,
            eligible=len(eligible),
        )
        if passed_over:
            explanation += ". No eligible candidate before it: " + "; ".join(passed_over)
        return Plan(
            outcome=RoutingDecision.Outcome.ASSIGNED,
            rule=rule,
            winner=winner,
            candidates=considered,
            explanation=explanation,
        )
    return Plan(
        outcome=RoutingDecision.Outcome.NO_CANDIDATE,
        rule=matching[0],
        candidates=considered,
        explanation="No eligible candidate: " + "; ".join(passed_over) + ".",
    )
