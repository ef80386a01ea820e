"""In-process probes for bench/run.py, run inside the project's Django settings against the
scratch benchmark database (DATABASE_URL). Prints one JSON document on stdout.

    python bench/probe.py targets --users 24 --detail-path /portal/cases/{pk}/
    python bench/probe.py sql --repeat 60

`targets`: the partner agents to sign in (spread over the caseload distribution, the
heaviest and the median included), one case with shared records for each, and the agency
user for the Cases List.

`sql`: the My Cases queries for the median and the heaviest agent (and the busiest partner
manager): the ones the real selector builds (`memberships_for_partner`, one page and its
count) and the ones the real page runs (captured while rendering /portal/ with the test
client), each run under EXPLAIN (ANALYZE, BUFFERS) `--repeat` times: planning + execution
time p50/p95, shared buffers hit, and every relation read by a sequential scan.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from cases.selectors import memberships_for_partner  # noqa: E402
from partners.models import PartnerAgent  # noqa: E402

MY_CASES_TABLE = '"cases_caseteammember"'
DEFAULT_PAGE_SIZE = 25


def agent_loads(prefix: str) -> list[tuple[int, str, int]]:
    """(user id, username, active cases) of every seeded partner agent, heaviest first."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT u.id, u.username, count(m.id) AS n
            FROM auth_user u
            JOIN partners_partneragent a ON a.user_id = u.id AND a.role = 'agent'
            LEFT JOIN cases_caseteammember m ON m.user_id = u.id AND m.is_active
            WHERE u.username LIKE %s AND u.is_active
            GROUP BY u.id, u.username ORDER BY n DESC, u.id
            """,
            [prefix + "-agent-%"],
        )
        return cur.fetchall()


def case_with_records(user_id: int) -> int | None:
    """The newest active case of the agent with shared notes, else their newest case."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT m.case_id FROM cases_caseteammember m
            WHERE m.user_id = %s AND m.is_active
              AND EXISTS (SELECT 1 FROM cases_note n
                          WHERE n.case_id = m.case_id AND n.shared_with_partners)
            ORDER BY m.added_at DESC LIMIT 1
            """,
            [user_id],
        )
        row = cur.fetchone()
        return row[0] if row else None


def cmd_targets(args) -> dict:
    loads = agent_loads(args.prefix)
    if not loads:
        raise SystemExit(f"no {args.prefix}-agent-* users: seed the database first")
    n = len(loads)
    wanted = max(2, min(args.users, n))
    # Evenly spaced ranks over the distribution: heaviest (rank 0) ... lightest, + median.
    ranks = sorted({round(i * (n - 1) / (wanted - 1)) for i in range(wanted)} | {n // 2})
    users = []
    spare_case = None
    for rank in ranks:
        user_id, username, active = loads[rank]
        case_id = case_with_records(user_id)
        spare_case = spare_case or case_id
        users.append({"username": username, "active_cases": active, "rank": rank, "case": case_id})
    agency = get_user_model().objects.filter(username=f"{args.prefix}-manager").first()
    return {
        "agents": n,
        "median_active_cases": loads[n // 2][2],
        "max_active_cases": loads[0][2],
        "users": users,
        "agency_user": agency.username if agency else None,
        "detail_path": args.detail_path,
    }


# SQL -------------------------------------------------------------------------------------


def _walk(node, found):
    if node.get("Node Type") == "Seq Scan":
        found.add(node.get("Relation Name", "?"))
    for child in node.get("Plans", []):
        _walk(child, found)


def explain(sql: str, repeat: int) -> dict:
    timings, seq, buffers = [], set(), 0
    plan_text = ""
    with connection.cursor() as cur:
        for i in range(repeat + 2):  # two warm-up runs
            # TIMING OFF: the statement's own time, without per-node clock reads (which
            # double the cost of a scan over thousands of index entries).
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) " + sql)
            doc = cur.fetchone()[0]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            top = doc[0]
            if i >= 2:
                timings.append(top["Planning Time"] + top["Execution Time"])
            _walk(top["Plan"], seq)
            buffers = top["Plan"].get("Shared Hit Blocks", 0) + top["Plan"].get(
                "Shared Read Blocks", 0
            )
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        plan_text = "\n".join(row[0] for row in cur.fetchall())
    sizes = relation_sizes(seq)
    return {
        "sql": sql,
        "timings_ms": timings,
        "seq_scan_sizes": sizes,
        "large_seq_scans": sorted(r for r, size in sizes.items() if is_large(size)),
        "p50_ms": percentile(timings, 50),
        "p95_ms": percentile(timings, 95),
        "seq_scans": sorted(seq),
        "buffers": buffers,
        "plan": plan_text,
    }


# A sequential read of a lookup table of a page or two (the six programs) is what the planner
# should do: one buffer, cheaper than an index probe. Only larger relations count as misses.
TINY_PAGES = 8
TINY_ROWS = 500


def relation_sizes(relations) -> dict[str, dict]:
    sizes = {}
    with connection.cursor() as cur:
        for relation in relations:
            cur.execute(
                "SELECT relpages, reltuples::bigint FROM pg_class WHERE relname = %s",
                [relation],
            )
            row = cur.fetchone()
            sizes[relation] = {"pages": row[0], "rows": row[1]} if row else {}
    return sizes


def is_large(size: dict) -> bool:
    return not size or size["pages"] > TINY_PAGES or size["rows"] > TINY_ROWS


def percentile(values, pct):
    ordered = sorted(values)
    if not ordered:
        return None
    k = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def _normalized(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def my_cases_queries(user, path: str) -> tuple[list[str], list[str], int]:
    """(selector queries, page queries touching case team rows, total page queries)."""
    page_queries = []
    total = 0
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code} for {user.username}")
    total = len(captured.captured_queries)
    for query in captured.captured_queries:
        sql = query["sql"]
        if MY_CASES_TABLE in sql and sql.lstrip().upper().startswith("SELECT"):
            page_queries.append(sql)
    page_size = DEFAULT_PAGE_SIZE
    for sql in page_queries:
        match = re.search(r"LIMIT (\d+)", sql)
        if match and int(match.group(1)) > 1:
            page_size = int(match.group(1))
            break
    qs = memberships_for_partner(user=user)
    with CaptureQueriesContext(connection) as captured:
        list(qs[:page_size])
        qs.count()
    selector = [q["sql"] for q in captured.captured_queries]
    return selector, page_queries, total


def cmd_sql(args) -> dict:
    User = get_user_model()
    loads = agent_loads(args.prefix)
    subjects = [("heaviest agent", loads[0]), ("median agent", loads[len(loads) // 2])]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT a.user_id, u.username, count(m.id) FROM partners_partneragent a "
            "JOIN auth_user u ON u.id = a.user_id "
            "LEFT JOIN cases_caseteammember m ON m.organization_id = a.organization_id "
            "AND m.is_active WHERE a.role = 'manager' AND u.username LIKE %s "
            "GROUP BY a.user_id, u.username ORDER BY 3 DESC LIMIT 1",
            [args.prefix + "-pm-%"],
        )
        row = cur.fetchone()
    if row:
        subjects.append(("busiest partner manager", row))
    results = []
    for label, (user_id, username, active) in subjects:
        user = User.objects.select_related("partner_agent").get(pk=user_id)
        if not PartnerAgent.objects.filter(user=user).exists():
            raise SystemExit(f"{username} has no partner agent profile")
        selector, page, total = my_cases_queries(user, args.path)
        queries, seen = [], set()
        for origin, sql in [("selector", s) for s in selector] + [("page", s) for s in page]:
            key = _normalized(sql)
            if key in seen:
                continue
            seen.add(key)
            result = explain(sql, args.repeat)
            result["origin"] = origin
            queries.append(result)
        # The page's My Cases SQL as a whole: per repetition, the sum over the queries the
        # page itself runs (the selector's own page and count when the page runs none).
        counted = [q for q in queries if q["origin"] == "page"] or queries
        sums = [sum(q["timings_ms"][i] for q in counted) for i in range(args.repeat)]
        results.append(
            {
                "who": label,
                "username": username,
                "active_cases": active,
                "page_queries": total,
                "queries": queries,
                "summed": "page" if counted is not queries else "selector",
                "sum_p50_ms": percentile(sums, 50),
                "sum_p95_ms": percentile(sums, 95),
                "max_query_p95_ms": max(q["p95_ms"] for q in queries),
                "seq_scans": sorted({r for q in queries for r in q["seq_scans"]}),
                "large_seq_scans": sorted({r for q in queries for r in q["large_seq_scans"]}),
                "seq_scan_sizes": {
                    r: size for q in queries for r, size in q["seq_scan_sizes"].items()
                },
            }
        )
    return {"repeat": args.repeat, "subjects": results}


# BEGIN, COMMIT and savepoints: transaction control, not queries (as the tests count).
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b", re.I)


def cmd_queries(args) -> dict:
    """How many SQL queries each page runs for one signed-in user, as in a warm worker: each
    page is requested once first (the first request after sign-in stamps the session, the
    first of the process fills the content type cache), then counted. Transaction control
    statements are counted apart. Then `--repeat` more requests, one at a time, are timed
    (median ms, in process: no network, no load) and the response size is noted."""
    User = get_user_model()
    out = {}
    for spec in args.page:
        username, path = spec.split("=", 1)
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        client.get(path)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        statements = [q["sql"] for q in captured.captured_queries]
        control = [sql for sql in statements if TRANSACTION_CONTROL.match(sql)]
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
        out[path] = {
            "status": response.status_code,
            "queries": len(statements) - len(control),
            "transaction_control": len(control),
            "sql": [sql[:200] for sql in statements],
            "bytes": len(response.content),
            "ms_p50": round(percentile(timings, 50), 1) if timings else None,
        }
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", default="seed")
    sub = parser.add_subparsers(dest="cmd", required=True)
    targets = sub.add_parser("targets")
    targets.add_argument("--users", type=int, default=24)
    targets.add_argument("--detail-path", default="/portal/cases/{pk}/")
    sql = sub.add_parser("sql")
    sql.add_argument("--repeat", type=int, default=60)
    sql.add_argument("--path", default="/portal/")
    queries = sub.add_parser("queries")
    queries.add_argument("page", nargs="+", help="username=/path/")
    queries.add_argument("--repeat", type=int, default=5, help="timed requests per page")
    args = parser.parse_args()
    started = time.monotonic()
    result = {"targets": cmd_targets, "sql": cmd_sql, "queries": cmd_queries}[args.cmd](args)
    result["probe_seconds"] = round(time.monotonic() - started, 2)
    json.dump(result, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
