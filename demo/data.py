"""The demo data (data.toml), read once and checked: every choice (organization kinds,
roles, tabs, rule strategies...) must be one the models know, so a typo fails loudly."""

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from accounts.roles import Role
from cases.models import AssignmentRule, Case
from cases.records import Tab
from partners.models import PartnerAgent, PartnerOrganization

DATA_FILE = Path(__file__).with_name("data.toml")


@dataclass(frozen=True)
class Topic:
    topic: str  # in the Case Name
    summary: str  # {n}: household size, {kids}: its children
    legal: bool  # a matter for a law firm


@dataclass(frozen=True)
class Login:
    username: str
    first_name: str
    last_name: str
    agency_role: str = ""
    organization: str = ""  # a partner agent of this organization
    partner_role: str = ""
    languages: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    can_sign_in: bool = True


@dataclass(frozen=True)
class PlanEntry:
    kind: str  # the story (load_demo's `_story_<kind>`)
    count: int
    programs: str | tuple[str, ...]  # "all", "legal" or program codes
    days_ago: tuple[float, float]
    agent: str = ""
    tabs: str = ""
    work: bool = True
    consent: str = ""  # "withdrawn": the client of the story's second case withdraws consent


@dataclass(frozen=True)
class DemoData:
    password: str
    seed: int
    case_year: int
    response_window_hours: int
    regions: tuple[str, ...]
    programs: tuple[tuple[str, str], ...]  # (code, name)
    organizations: tuple[dict, ...]
    logins: tuple[Login, ...]  # the documented demo logins
    directory_agents: tuple[Login, ...]  # partner agents who cannot sign in
    names: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # language: (first, last)
    language_names: dict[str, str]
    topics: dict[str, tuple[Topic, ...]]  # program code: topics
    urgent_topics: frozenset[str]
    internal_notes: tuple[str, ...]
    denial_notes: tuple[str, ...]
    plan: tuple[PlanEntry, ...]
    routing_rules: tuple[dict, ...]


def _choice(value: str, choices, what: str) -> str:
    if value not in choices:
        raise ValueError(f"demo data: {value!r} is not a known {what}")
    return value


def _login(row: dict, *, can_sign_in: bool) -> Login:
    if row.get("agency_role"):
        _choice(row["agency_role"], Role.AGENCY, "agency role")
    if row.get("organization"):
        _choice(row.get("partner_role", "agent"), PartnerAgent.Role.values, "partner role")
    return Login(
        username=row["username"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        agency_role=row.get("agency_role", ""),
        organization=row.get("organization", ""),
        partner_role=row.get("partner_role", PartnerAgent.Role.AGENT),
        languages=tuple(row.get("languages", ())),
        programs=tuple(row.get("programs", ())),
        can_sign_in=can_sign_in,
    )


def _organization(row: dict) -> dict:
    _choice(row["kind"], PartnerOrganization.Kind.values, "organization kind")
    for tab in row["default_tabs"]:
        _choice(tab, Tab.values, "tab")
    return {"active": True, **row}


def _rule(row: dict) -> dict:
    _choice(row["strategy"], AssignmentRule.Strategy.values, "routing strategy")
    _choice(row["on_expiry"], AssignmentRule.OnExpiry.values, "routing expiry")
    if "priority" in row:
        _choice(row["priority"], Case.Priority.values, "priority")
    return dict(row)


def _plan_entry(row: dict, programs: set[str]) -> PlanEntry:
    chosen = row["programs"]
    if isinstance(chosen, str):
        _choice(chosen, ("all", "legal"), "program set")
    else:
        for code in chosen:
            _choice(code, programs, "program")
        chosen = tuple(chosen)
    low, high = row["days_ago"]
    return PlanEntry(
        kind=row["kind"],
        count=row["count"],
        programs=chosen,
        days_ago=(float(low), float(high)),
        agent=row.get("agent", ""),
        tabs=row.get("tabs", ""),
        work=row.get("work", True),
        consent=_choice(row.get("consent", ""), ("", "withdrawn"), "consent")
        if "consent" in row
        else "",
    )


@cache
def demo_data() -> DemoData:
    raw = tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))
    demo = raw["demo"]
    programs = tuple((row["code"], row["name"]) for row in raw["programs"])
    codes = {code for code, _ in programs}
    return DemoData(
        password=demo["password"],
        seed=demo["seed"],
        case_year=demo["case_year"],
        response_window_hours=demo["response_window_hours"],
        regions=tuple(raw["regions"]),
        programs=programs,
        organizations=tuple(_organization(row) for row in raw["organizations"]),
        logins=tuple(_login(row, can_sign_in=True) for row in raw["logins"]),
        directory_agents=tuple(_login(row, can_sign_in=False) for row in raw["directory_agents"]),
        names={
            language: (tuple(names["first"]), tuple(names["last"]))
            for language, names in raw["names"].items()
        },
        language_names=dict(raw["language_names"]),
        topics={
            _choice(code, codes, "program"): tuple(Topic(**row) for row in rows)
            for code, rows in raw["topics"].items()
        },
        urgent_topics=frozenset(raw["texts"]["urgent_topics"]),
        internal_notes=tuple(raw["texts"]["internal_notes"]),
        denial_notes=tuple(raw["texts"]["denial_notes"]),
        plan=tuple(_plan_entry(row, codes) for row in raw["plan"]),
        routing_rules=tuple(_rule(row) for row in raw["routing_rules"]),
    )


# The password of every demo login (README, `make run`).
DEMO_PASSWORD = demo_data().password
