"""Reads of the Partner Portal's pages, built on `cases.selectors` (which decides access).

The portal's pages have small, fixed query budgets: My Cases 4 statements, the session and
the user included (session, user, partner profile, one for the page); a case page 8. So the
page query carries, as scalar subqueries that the database evaluates once, what a page
would otherwise ask in separate round trips: the filtered total for the pagination, the
New count of the navigation and the program choices of the filter.
"""

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.conf import settings
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import (
    Count,
    Expression,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.http import Http404
from django.utils import timezone
from django.utils.dates import MONTHS_3

from accounts.people import name_of
from cases import access, selectors
from cases.models import AccessEnd, Case, CaseTeamMember, Program, Referral
from casesite import clock
from casesite.links import pk_url
from partners.models import PartnerAgent

from . import my_cases_sql

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Field, OrderBy
    from django.db.models.sql.compiler import SQLCompiler

PER_PAGE = 25
# The notices of ended access on My Cases: how far back, and how many at most.
NOTICE_DAYS = 30
NOTICES = 5
# Referral states a case on My Cases can be in (declined, expired and withdrawn ones leave).
MY_CASES_STATES = (
    Referral.State.PENDING,
    Referral.State.ACCEPTED,
    Referral.State.IN_PROGRESS,
    Referral.State.WAITLISTED,
    Referral.State.COMPLETED,
    Referral.State.COULD_NOT_HELP,
)
# Sort keys of My Cases and their fields. Ascending puts empty values first, so that "new"
# ascending lists the new cases (never opened: no seen_at) first.
MY_CASES_SORTS = {
    "new": ("seen_at",),
    "number": ("case__number",),
    "name": ("case__name",),
    "program": ("case__program__name",),
    "status": ("case__status",),
    "referral": ("referral_state",),
    "assigned": ("added_at",),
    "agent": ("user__last_name", "user__first_name"),
}
DEFAULT_SORT = "-assigned"
NULLABLE_SORTS = {"seen_at"}
# What a My Cases row reads: partner-visible case fields only (no internal field is even
# selected), and for a partner manager's list the agent's name. The program's name comes
# from the program choices the query brings anyway: no join to programs (nor to users for
# an agent's own list) unless a filter or the sort needs one.
_ROW_FIELDS = (
    "case_id",
    "case__number",
    "case__name",
    "case__program_id",
    "case__status",
    "referral_state",
    "added_at",
    "seen_at",
)
_AGENT_FIELDS = ("user__first_name", "user__last_name", "user__username")
_STATUS_LABELS = dict(Case.Status.choices)
_REFERRAL_LABELS = dict(Referral.State.choices)


class JSONRows(Expression):
    """A scalar subquery written out in SQL whose rows come back as one JSON array of
    arrays (text), in each database's own functions: the subclass writes `_sql` with the
    aggregate and the row constructor it is given."""

    output_field = TextField()

    def _sql(
        self, connection: "BaseDatabaseWrapper", aggregate: str, row: str
    ) -> tuple[str, list[Any]]:
        raise NotImplementedError

    def as_sql(  # type: ignore[override]  # Django takes list params; the stubs say tuple
        self, compiler: "SQLCompiler", connection: "BaseDatabaseWrapper"
    ) -> tuple[str, list[Any]]:
        return self._sql(connection, "JSON_GROUP_ARRAY", "JSON_ARRAY")

    def as_postgresql(
        self, compiler: "SQLCompiler", connection: "BaseDatabaseWrapper"
    ) -> tuple[str, list[Any]]:
        return self._sql(connection, "JSONB_AGG", "JSONB_BUILD_ARRAY")


class ProgramChoices(JSONRows):
    """Every program as a JSON array of [id, code, name], as one scalar subquery, read as
    text (`program_choices` decodes it): it rides on every row of the page, and only the
    first row's copy is needed.

    Written out rather than built from a queryset: the grouped JSON aggregate took as long
    to compile as the rest of the My Cases query, and this one never changes."""

    output_field = TextField()

    def _sql(
        self, connection: "BaseDatabaseWrapper", aggregate: str, pair: str
    ) -> tuple[str, list[Any]]:
        quote = connection.ops.quote_name
        pk, code, name = (
            quote(cast(str, cast("Field[Any, Any]", Program._meta.get_field(f)).column))
            for f in ("id", "code", "name")
        )
        table = quote(Program._meta.db_table)
        # The model's own quoted identifiers; no input reaches this SQL.
        sql = f"(SELECT {aggregate}({pair}({pk}, {code}, {name})) FROM {table})"  # noqa: S608  # nosec B608
        return sql, []


def watching(agent: PartnerAgent | None, now: datetime) -> bool:
    """May the partner's My Cases have a notice of ended access now? After an access of
    theirs ended (for `NOTICE_DAYS`), or once the earliest end among their accesses has
    come (an expiry before the periodic job ran): both marks are kept by the services on
    the partner's profile, which every portal request has loaded anyway."""
    if agent is None:
        return False
    ended = agent.notices_until is not None and now < agent.notices_until
    due = agent.notices_from is not None and now >= agent.notices_from
    return ended or due


NO_NOTICES = Value(None, output_field=TextField())


class EndedAccess(JSONRows):
    """The partner's cases whose access ended in the last `NOTICE_DAYS` days (consent
    withdrawn or expired, emergency access lapsed), newest first, at most `NOTICES`, as one
    JSON array of [case number, ended at, why]: a scalar subquery that rides on the page's
    rows like `ProgramChoices` (`ended_notices` decodes it). Only the number leaves the
    case: no other data of a case the partner may no longer see."""

    output_field = TextField()

    def __init__(self, *, manager: bool, scope: int, now: datetime, since: datetime) -> None:
        super().__init__()
        self.manager, self.scope, self.now, self.since = manager, scope, now, since

    @classmethod
    def of(cls, *, user: "User", agent: PartnerAgent | None) -> "EndedAccess | None":
        """The notices of this user (a partner manager: of the organization's agents), or
        None when there can be none (`watching`): most requests need not ask."""
        now = clock.now()
        if not watching(agent, now):
            return None
        manager = agent is not None and agent.is_manager
        scope = cast(PartnerAgent, agent).organization_id if manager else user.pk
        return cls(manager=manager, scope=scope, now=now, since=now - timedelta(days=NOTICE_DAYS))

    def _sql(
        self, connection: "BaseDatabaseWrapper", aggregate: str, triple: str
    ) -> tuple[str, list[Any]]:
        quote = connection.ops.quote_name

        def column(model: Any, name: str) -> str:
            return quote(cast(str, cast("Field[Any, Any]", model._meta.get_field(name)).column))

        member, case = quote(CaseTeamMember._meta.db_table), quote(Case._meta.db_table)
        scope = column(CaseTeamMember, "organization" if self.manager else "user")
        until, end = column(CaseTeamMember, "access_until"), column(CaseTeamMember, "access_end")
        case_id, number = column(CaseTeamMember, "case"), column(Case, "number")
        # The model's own quoted identifiers; the values are parameters.
        sql = (
            f"(SELECT {aggregate}({triple}(x.n, x.t, x.w)) FROM ("  # noqa: S608  # nosec B608
            f"SELECT c.{number} AS n, m.{until} AS t, m.{end} AS w FROM {member} m "
            f"JOIN {case} c ON c.{quote('id')} = m.{case_id} "
            f"WHERE m.{scope} = %s AND m.{end} <> '' AND m.{until} <= %s AND m.{until} > %s "
            f"ORDER BY m.{until} DESC LIMIT {NOTICES}) x)"
        )
        adapt = connection.ops.adapt_datetimefield_value
        return sql, [self.scope, adapt(self.now), adapt(self.since)]


@dataclass(frozen=True)
class EndedNotice:
    number: str
    ended_at: datetime
    why: str  # "consent withdrawn", ...


def ended_notices(value: str | list[list[Any]] | None) -> list[EndedNotice]:
    """The notices of an `EndedAccess` column, newest first."""
    items = json.loads(value) if isinstance(value, str) else (value or [])
    labels = dict(AccessEnd.choices)
    notices = []
    for number, at, why in items:
        ended = datetime.fromisoformat(at)
        if timezone.is_naive(ended):  # SQLite keeps UTC without its offset
            ended = ended.replace(tzinfo=UTC)
        notices.append(EndedNotice(number, timezone.localtime(ended), labels.get(why, why)))
    return sorted(notices, key=lambda n: n.ended_at, reverse=True)


def _count(queryset: QuerySet[CaseTeamMember]) -> Subquery:
    """COUNT(*) of `queryset` as a scalar subquery (not correlated: evaluated once)."""
    # COUNT(*), not COUNT(id): no column to read, so PostgreSQL counts with an index-only
    # scan of the partial index (caseteam_mycases, caseteam_new) instead of visiting rows.
    counted = (
        queryset.order_by()
        .annotate(_n=Func(template="COUNT(*)", output_field=IntegerField()))
        .values("_n")
    )
    return Subquery(counted, output_field=IntegerField())


def program_choices(value: str | list[list[Any]] | None) -> list[list[Any]]:
    """The programs of a `ProgramChoices` column: [[id, code, name], ...] (a driver that
    decodes JSON itself hands over the list)."""
    if isinstance(value, str):
        return cast("list[list[Any]]", json.loads(value))
    return value or []


def new_memberships(*, user: "User") -> QuerySet[CaseTeamMember]:
    """The rows of My Cases that carry the New asterisk: assignments not opened yet by
    their agent (for a partner manager, by the agent of each row)."""
    return selectors.memberships_for_partner(user=user).filter(seen_at__isnull=True)


def my_cases_version(*, user: "User") -> str:
    """What the unfiltered My Cases of a partner user looks like, in two small counts (its
    cases and its New ones): the live probe compares it with the page's to answer 204 when
    nothing changed. A referral added, answered elsewhere, withdrawn, expired or reassigned
    changes one of them; one query, counted from the partial indexes."""
    scope = selectors.memberships_for_partner(user=user)
    row = scope.order_by().aggregate(
        total=Count("pk"), new=Count("pk", filter=Q(seen_at__isnull=True))
    )
    return f"{row['total']}-{row['new']}"


def new_case_count(*, user: "User") -> Subquery:
    """The navigation's New count, as an expression to annotate a page's query with."""
    return _count(new_memberships(user=user))


@dataclass
class MyCasesFilters:
    query: str = ""
    new_only: bool = False
    referral_state: str = ""
    program: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    @property
    def narrowing(self) -> bool:
        """True when the filters can hide some of the user's cases."""
        return bool(self.query or self.new_only or self.referral_state or self.program)


class MyCasesRow(TypedDict):
    """One row of My Cases as the page shows it. Plain values from the page's one query:
    no model instance per row, and the labels, link and dates ready to print (the list is
    the portal's busiest page; per-row template filters and `{% url %}` were most of it).
    A dict, which the template language reads faster than attributes."""

    case_id: int
    number: str
    name: str
    program: str
    status: str  # label
    referral_state: str
    referral_label: str
    assigned_at: datetime  # local time
    assigned_iso: str  # as the `date:"c"` filter prints it
    assigned_on: str  # as `date:"M j, Y"` prints it
    is_new: bool
    agent: str
    url: str


def _rows(
    values: list[dict[str, Any]], *, programs: dict[int, str], manager: bool
) -> list[MyCasesRow]:
    case_url = pk_url("portal:case")
    months: dict[int, str] = {}  # the month abbreviations (translated), as `date:"M"` prints them
    rows: list[MyCasesRow] = []
    for row in values:
        case_id, status, state = row["case_id"], row["case__status"], row["referral_state"]
        local = timezone.localtime(row["added_at"])
        month = months.get(local.month) or months.setdefault(
            local.month, str(MONTHS_3[local.month]).title()
        )
        rows.append(
            {
                "case_id": case_id,
                "number": row["case__number"],
                "name": row["case__name"],
                "program": programs.get(row["case__program_id"], ""),
                "status": _STATUS_LABELS.get(status, status),
                "referral_state": state,
                "referral_label": _REFERRAL_LABELS.get(state, state),
                "assigned_at": local,
                "assigned_iso": local.isoformat(),
                "assigned_on": f"{month} {local.day}, {local.year}",
                "is_new": row["seen_at"] is None,
                "agent": (
                    name_of(row["user__first_name"], row["user__last_name"], row["user__username"])
                    if manager
                    else ""
                ),
                "url": case_url(case_id),
            }
        )
    return rows


@dataclass
class MyCasesPage:
    rows: list[MyCasesRow]
    total: int
    new_count: int
    program_choices: list[tuple[str, str]]
    number: int
    paginator: "Paginator[int]" = field(repr=False)
    ended: list[EndedNotice] = field(default_factory=list)

    @property
    def start(self) -> int:
        return (self.number - 1) * PER_PAGE + 1 if self.total else 0

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1 if self.rows else 0


def _ordering(sort: str) -> "list[OrderBy]":
    if sort.removeprefix("-") not in MY_CASES_SORTS:
        sort = DEFAULT_SORT
    names = MY_CASES_SORTS[sort.removeprefix("-")]
    # NULLS FIRST/LAST only on a column that can be empty (seen_at): on a NOT NULL column it
    # changes nothing but keeps PostgreSQL from reading caseteam_mycases (user, -added_at)
    # in order, so the default sort would fetch and sort every one of the agent's rows.
    if sort.startswith("-"):
        ordering = [
            F(name).desc(nulls_last=True) if name in NULLABLE_SORTS else F(name).desc()
            for name in names
        ]
    else:
        ordering = [
            F(name).asc(nulls_first=True) if name in NULLABLE_SORTS else F(name).asc()
            for name in names
        ]
    # Newest assignment first among equals, and a total order for stable pages.
    return [*ordering, F("added_at").desc(), F("pk").desc()]


def my_cases_page(*, user: "User", filters: MyCasesFilters) -> MyCasesPage:
    """One page of My Cases for a partner user, in one query.

    Rows come from `memberships_for_partner` (the user's active case team memberships; a
    partner manager's organization's), narrowed by the filters; each row's case is loaded
    without its internal fields. The filtered total, the New count and the program choices
    ride along as scalar subqueries. Only a page that comes back empty although the user has
    cases (filters that match nothing, a page past the end) costs one more query."""
    agent = selectors.partner_agent_of(user)
    manager = agent is not None and agent.is_manager
    querysets: list[QuerySet[CaseTeamMember]]
    querysets = []  # (scope, matching), built when the ORM is needed

    def orm() -> tuple[QuerySet[CaseTeamMember], QuerySet[CaseTeamMember]]:
        if not querysets:
            querysets.extend(_page_querysets(user=user, filters=filters))
        return querysets[0], querysets[1]

    def fetch(number: int) -> list[dict[str, Any]]:
        rows = _fetch_compiled(user=user, agent=agent, filters=filters, number=number)
        if rows is None:
            scope, matching = orm()
            ended = EndedAccess.of(user=user, agent=agent)
            page = _page_query(scope=scope, matching=matching, sort=filters.sort, number=number,
                               manager=manager, ended=ended)  # fmt: skip
            rows = list(page)
        return rows

    number = max(filters.page, 1)
    rows = fetch(number)
    if rows:
        first = rows[0]
        total, new_count = first["page_total"], first["page_new_count"]
        choices = program_choices(first["page_program_choices"])
        ended = ended_notices(first["page_ended"])
    elif agent is None or not user.is_active:
        total, new_count, choices, ended = 0, 0, [], []
    else:
        scope, matching = orm()
        total, new_count, choices, ended = _page_facts(
            user=user, matching=matching, scope=scope, ended=EndedAccess.of(user=user, agent=agent)
        )
        last = max(1, -(-total // PER_PAGE))
        if total and number > last:
            number = last
            rows = fetch(number)
    return MyCasesPage(
        ended=ended,
        rows=_rows(rows, programs={pk: name for pk, _, name in choices}, manager=manager),
        total=total,
        new_count=new_count,
        program_choices=sorted(((code, name) for _, code, name in choices), key=lambda c: c[1]),
        number=number,
        # Page arithmetic over a range: no second COUNT query.
        paginator=Paginator(range(total), PER_PAGE),
    )


def _page_querysets(
    *, user: "User", filters: MyCasesFilters, now: datetime | None = None
) -> tuple[QuerySet[CaseTeamMember], QuerySet[CaseTeamMember]]:
    """(every row the user may list at `now`, the rows the filters keep)."""
    scope = selectors.memberships_for_partner(user=user, now=now)
    matching = scope
    if filters.query:
        matching = matching.filter(
            Q(case__number__icontains=filters.query) | Q(case__name__icontains=filters.query)
        )
    if filters.new_only:
        matching = matching.filter(seen_at__isnull=True)
    if filters.referral_state:
        matching = matching.filter(referral_state=filters.referral_state)
    if filters.program:
        matching = matching.filter(case__program__code=filters.program)
    return scope, matching


def _page_query(
    *,
    scope: QuerySet[CaseTeamMember],
    matching: QuerySet[CaseTeamMember],
    sort: str,
    number: int,
    manager: bool,
    ended: EndedAccess | None,
) -> QuerySet[CaseTeamMember, dict[str, Any]]:
    """One page of rows as dicts: `_ROW_FIELDS` (and `_AGENT_FIELDS` for a manager), and
    the filtered total, the New count, the program choices and the ended-access notices."""
    fields = (*_ROW_FIELDS, *_AGENT_FIELDS) if manager else _ROW_FIELDS
    offset = (number - 1) * PER_PAGE
    page = (
        matching.annotate(
            page_total=_count(matching),
            page_new_count=_count(scope.filter(seen_at__isnull=True)),
            page_program_choices=ProgramChoices(),
            page_ended=ended or NO_NOTICES,
        )
        .order_by(*_ordering(sort))
        .values(*fields, "page_total", "page_new_count", "page_program_choices", "page_ended")[
            offset : offset + PER_PAGE
        ]
    )
    # values() over annotations: the plugin cannot name the row type.
    return cast("QuerySet[CaseTeamMember, dict[str, Any]]", page)


# Compiled page statements (portal/my_cases_sql.py) ------------------------------------------


def _fetch_compiled(
    *, user: "User", agent: PartnerAgent | None, filters: MyCasesFilters, number: int
) -> list[dict[str, Any]] | None:
    """The page's rows through its compiled statement; None where the ORM must do it."""
    if connection.vendor != "postgresql" or agent is None or not user.is_active:
        return None
    if filters.query or not settings.MY_CASES_COMPILED_SQL:
        return None
    sort = filters.sort if filters.sort.removeprefix("-") in MY_CASES_SORTS else DEFAULT_SORT
    now = clock.now()
    statement = _statement(
        manager=agent.is_manager,
        notices=watching(agent, now),
        new_only=filters.new_only,
        state=bool(filters.referral_state),
        program=bool(filters.program),
        sort=sort,
        number=number,
    )
    if statement is None:
        return None
    return my_cases_sql.fetch_rows(
        statement,
        scope=agent.organization_id if agent.is_manager else user.pk,
        state=filters.referral_state,
        program=filters.program,
        now=now,
        since=now - timedelta(days=NOTICE_DAYS),
    )


@functools.lru_cache(maxsize=512)
def _statement(
    *,
    manager: bool,
    notices: bool,
    new_only: bool,
    state: bool,
    program: bool,
    sort: str,
    number: int,
) -> my_cases_sql.Statement | None:
    """The page query of one shape, built by the ORM path's own code for the stand-ins and
    compiled (None: the ORM does this shape's work)."""
    filters = MyCasesFilters(
        new_only=new_only,
        referral_state=my_cases_sql.STATE if state else "",
        program=my_cases_sql.PROGRAM if program else "",
        sort=sort,
    )
    standin = my_cases_sql.standin_user(manager=manager)
    scope, matching = _page_querysets(user=standin, filters=filters, now=my_cases_sql.NOW)
    ended = (
        EndedAccess(
            manager=manager,
            scope=my_cases_sql.SCOPE,
            now=my_cases_sql.NOW,
            since=my_cases_sql.SINCE,
        )
        if notices
        else None
    )
    query = _page_query(
        scope=scope, matching=matching, sort=sort, number=number, manager=manager, ended=ended
    )
    return my_cases_sql.compile_rows(query)


def _page_facts(
    *,
    user: "User",
    matching: QuerySet[CaseTeamMember],
    scope: QuerySet[CaseTeamMember],
    ended: EndedAccess | None,
) -> tuple[int, int, list[list[Any]], list[EndedNotice]]:
    """Total, New count, program choices and notices in one query, for a page that came
    back empty: the same subqueries, hung on the user's own partner profile row."""
    facts = (
        PartnerAgent.objects.filter(user=user)
        .annotate(
            total=_count(matching),
            new_count=_count(scope.filter(seen_at__isnull=True)),
            choices=ProgramChoices(),
            notices=ended or NO_NOTICES,
        )
        .values_list("total", "new_count", "choices", "notices")
        .first()
    )
    if facts is None:
        return 0, 0, [], []
    total, new_count, choices, notices = facts
    return total or 0, new_count or 0, program_choices(choices), ended_notices(notices)


# The case page ------------------------------------------------------------------------------


def organization_memberships(*, agent: PartnerAgent, case: Case) -> QuerySet[CaseTeamMember]:
    """The active assignments of a partner manager's organization on a case."""
    return (
        CaseTeamMember.objects.filter(
            case=case, organization_id=agent.organization_id, is_active=True
        )
        .select_related("user")
        .order_by("added_at", "pk")
    )


def organization_agents(*, agent: PartnerAgent, case: Case) -> QuerySet[PartnerAgent]:
    """The active agents of a partner manager's organization, each with its assignment on
    the case if it has one (`member_id`, `member_state`): who holds the case now, and whom
    it can be reassigned to, in one query."""
    on_case = CaseTeamMember.objects.filter(case=case, user=OuterRef("user_id"), is_active=True)
    return (
        PartnerAgent.objects.filter(organization_id=agent.organization_id, user__is_active=True)
        .select_related("user")
        .annotate(
            member_id=Subquery(on_case.values("pk")[:1]),
            member_state=Subquery(on_case.values("referral_state")[:1]),
        )
        .order_by("user__first_name", "user__last_name", "user__username")
    )


def intake_queue(*, agent: PartnerAgent) -> QuerySet[Referral]:
    """The referrals waiting in a partner manager's organization's intake queue (referred
    to the organization, no agent yet), due first. Nobody else has an intake queue."""
    if agent is None or not agent.is_manager or not agent.user.is_active:
        return cast("QuerySet[Referral]", Referral.objects.none())
    return cast(
        "QuerySet[Referral]",
        Referral.objects.filter(
            access.in_force_for(agent.organization),
            organization_id=agent.organization_id,
            agent__isnull=True,
            state=Referral.State.PENDING,
        )
        .select_related("case", "case__program", "organization")
        .prefetch_related("organization__closures")
        .defer(*(f"case__{name}" for name in Case.INTERNAL_FIELDS))
        .order_by("due_at", "pk"),
    )


def intake_referral_or_404(*, agent: PartnerAgent, pk: int) -> Referral:
    referral = intake_queue(agent=agent).filter(pk=pk).first()
    if referral is None:
        raise Http404
    return referral


def organization_assignable_agents(*, agent: PartnerAgent) -> QuerySet[PartnerAgent]:
    """The active agents of a partner manager's organization who can be assigned a case."""
    return (
        PartnerAgent.objects.filter(
            organization_id=agent.organization_id,
            role=PartnerAgent.Role.AGENT,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user__username")
    )
