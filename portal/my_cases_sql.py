"""My Cases' compiled page statements (PostgreSQL).

Building and compiling the page query took two thirds of My Cases' time in the selector,
yet its SQL depends only on the page's shape (an agent's or a manager's list, which
filters, the sort, the page number), never on the values. So each shape is built once, by
the selector's own code (`portal.selectors._statement`), for a stand-in user with stand-in
filter values, compiled here, and each request puts its own values in place of the
stand-ins. The rows come back as the ORM's `values()` rows would: a dict per row, read by
column name (PostgreSQL needs no converter for these columns; the tests hold every shape
to the ORM's rows). A free-text search, whose LIKE pattern the ORM prepares, takes the ORM.

Measured at 1,000,000 cases (docs/performance.md): My Cases at 0.52 of B1 with these
statements, 0.42 through the plain ORM (`MY_CASES_COMPILED_SQL = False`).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connection

from partners.models import PartnerAgent

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet

SCOPE = -7_777_777_777_777  # where the user's (a manager's: the organization's) id goes
STATE = "\x00referral-state"  # the referral state filter
PROGRAM = "\x00program-code"  # the program filter
NOW = datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)  # the time access is checked at
SINCE = datetime(1901, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)  # the oldest notice of ended access
_STANDINS = (SCOPE, STATE, PROGRAM)


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]  # constants, and the stand-ins where the request's values go
    columns: tuple[str, ...]  # the names of the `values()` row, in the SQL's order


def standin_user(*, manager: bool) -> "User":
    """A user who exists nowhere, whose id (and organization id) is the SCOPE stand-in."""
    user = get_user_model()(pk=SCOPE, is_active=True)
    role = PartnerAgent.Role.MANAGER if manager else PartnerAgent.Role.AGENT
    user.partner_agent = PartnerAgent(user=user, organization_id=SCOPE, role=role)
    return user


def _is_standin(value: object) -> bool:
    if type(value) is datetime:
        return value in (NOW, SINCE)
    return type(value) in (int, str) and value in _STANDINS


def compile_rows(query: "QuerySet[Any, dict[str, Any]]") -> Statement | None:
    """A `values()` queryset built with the stand-ins, as SQL with its parameters; None if
    the SQL does not carry each stand-in as a parameter of its own (then the ORM does it)."""
    sql, params = query.query.sql_with_params()
    inline = (
        str(SCOPE),
        STATE,
        PROGRAM,
        *(d.isoformat(sep=s)[:19] for d in (NOW, SINCE) for s in "T "),
    )
    if any(text in sql for text in inline):
        return None
    for param in params:
        if not _is_standin(param) and any(text in str(param) for text in inline):
            return None
    inner = query.query
    columns = (*inner.extra_select, *inner.values_select, *inner.annotation_select)
    return Statement(sql=sql, params=tuple(params), columns=tuple(columns))


def fetch_rows(
    statement: Statement,
    *,
    scope: int,
    state: str,
    program: str,
    now: datetime,
    since: datetime,
) -> list[dict[str, Any]]:
    """The statement's rows for one request's values, each a dict by column name."""
    values: dict[Any, Any] = {SCOPE: scope, STATE: state, PROGRAM: program, NOW: now, SINCE: since}
    params = [values[p] if _is_standin(p) else p for p in statement.params]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        return [dict(zip(statement.columns, row, strict=True)) for row in cursor.fetchall()]
