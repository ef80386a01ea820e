"""Seed a PostgreSQL database with a large, skewed, consistent data set for `make bench`.

Set-based: every big table is filled by one `INSERT ... SELECT generate_series` (no Python
loop per row), inside one transaction during which the secondary indexes and foreign keys of
the loaded tables are dropped and then rebuilt from their own catalog definitions (a bulk
load; the schema afterwards is exactly the migrated one). Then `VACUUM ANALYZE`.

What it makes, for `--cases N --agents A --partners P`:
- P partner organizations (default tabs: Activities, Service Requests, Notes), one partner
  manager each (in the organization's managers group);
- A partner agents; the referred cases are dealt to them with a Zipf-like skew (a few agents
  hold thousands of cases, the median agent a few dozen);
- agency caseworkers who own the cases, and one agency manager (`<prefix>-manager`);
  user names `seed-agent-00001`, `seed-pm-0001`, `seed-cw-0001`, case numbers `SEED-0000001`
  (`--prefix`);
- N cases (about 70% referred: Third-Party, or Closed with a completed referral), each
  with its owner on the Case Team; one Primary partner per referred case (two partners
  where an earlier agent declined, let the referral expire or was reassigned: that one is
  an inactive Case Team row, the first partner stays Primary);
- one Referral per partner-agent Case Team row, which points at it (`referral_id`) and
  copies its state (`referral_state`). A Third-Party case's current referral is pending
  (36%; due within two days, or overdue for 15% of them), accepted, in progress,
  waitlisted (a review date, passed for a fifth), completed (an outcome; some this week) or
  could-not-help, the agent on the team; or declined or expired and escalated back to the
  owner (3.5%: the agent left the team, nothing is open). The earlier agents' referrals
  were declined, expired or withdrawn (reassigned), and the current one `replaces` them;
- the guardian object permissions the services would have granted: per user for each
  active partner agent (`view_case`, `work_case`, one per default tab) and per group for the
  organization's partner managers;
- for a sample of the referred cases a partner has worked (`--records-fraction`; accepted,
  in progress, completed or could-not-help): shared notes, activities and a service
  request, one internal note, and their case events.

Every seeded user has the same password (`--password`, hashed once).
"""

import json
import random
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.roles import Role
from cases.permissions import codenames_for_tabs
from partners.models import PartnerOrganization, default_tabs, default_weekly_hours

BENCH_PASSWORD = "bench-password-0123"  # noqa: S105  (scratch benchmark databases only)
RESPONSE_HOURS = 16  # the organizations' default response window (business hours)

PROGRAMS = [
    ("SNAP", "Supplemental Nutrition Assistance"),
    ("MEDICAID", "Medicaid"),
    ("TANF", "Temporary Assistance for Needy Families"),
    ("WIC", "Women, Infants and Children"),
    ("LIHEAP", "Low Income Home Energy Assistance"),
    ("CHIP", "Children's Health Insurance Program"),
]
SURNAMES = [
    "Garcia", "Smith", "Nguyen", "Johnson", "Okafor", "Patel", "Kowalski", "Haddad",
    "Martinez", "Brown", "Kim", "Lindqvist", "Herrera", "Davis", "Wilson", "Natarajan",
    "Rossi", "Murphy", "Cohen", "Yamamoto", "Silva", "Novak", "Ahmed", "Olsen",
]  # fmt: skip
GIVEN = [
    "Maria", "James", "Linh", "Aisha", "Daniel", "Priya", "Tomas", "Grace", "Omar",
    "Sofia", "Wei", "Fatima", "Carlos", "Emma", "Noah", "Amara",
]  # fmt: skip
REGIONS = ["North", "South", "East", "West", "Central", "Harbor", "Valley", "Uplands"]
# Tables filled here whose secondary indexes and foreign keys are rebuilt after the load.
BULK_TABLES = (
    "cases_case",
    "cases_referral",
    "cases_caseteammember",
    "cases_consent",
    "cases_casepartner",
    "cases_caseuserobjectpermission",
    "cases_casegroupobjectpermission",
    "cases_note",
    "cases_activity",
    "cases_servicerequest",
    "cases_caseevent",
)
# The current referral of each dealt case, from one uniform draw of its row number: a
# Closed case's referral was completed; a Third-Party case's is mostly pending (overdue
# when its due time has passed), accepted or in progress, some waitlisted, completed or
# could-not-help (the agent stays on the team), and a few came back to the owner after a
# decline or an expiry (escalated: the agent left the team, nothing open on the case).
LINK_STATES = """CASE WHEN r.status = 'closed' THEN 'completed'
    WHEN pg_temp.bu(r.rn, 14) < 0.36 THEN 'pending'
    WHEN pg_temp.bu(r.rn, 14) < 0.58 THEN 'accepted'
    WHEN pg_temp.bu(r.rn, 14) < 0.78 THEN 'in_progress'
    WHEN pg_temp.bu(r.rn, 14) < 0.84 THEN 'waitlisted'
    WHEN pg_temp.bu(r.rn, 14) < 0.92 THEN 'completed'
    WHEN pg_temp.bu(r.rn, 14) < 0.94 THEN 'could_not_help'
    WHEN pg_temp.bu(r.rn, 14) < 0.965 THEN 'declined'
    ELSE 'expired' END"""
# Referrals a partner has worked: only these cases get partner records (a partner records
# work once the referral is accepted).
WORKED_STATES = ("accepted", "in_progress", "completed", "could_not_help")
OUTCOMES = ("served", "served", "served", "partly_served", "referred_elsewhere",
            "client_withdrew")  # fmt: skip
DECLINE_REASONS = ("no_capacity", "no_capacity", "conflict", "out_of_area", "not_eligible")
FAIL_REASONS = ("service_unavailable", "client_ineligible", "client_declined", "conflict")
# Tables whose identity sequence must follow the explicit ids written here.
ID_TABLES = (
    "auth_user",
    "auth_group",
    "auth_user_groups",
    "partners_partnerorganization",
    "partners_partneragent",
    "cases_program",
    *BULK_TABLES,
)


def sql_array(values) -> str:
    """A literal text[] of fixed vocabulary (never user input)."""
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def sql_pick(values, row: str, salt: int) -> str:
    """One of `values` (fixed vocabulary), drawn by pg_temp.bu(row, salt)."""
    return f"({sql_array(values)})[1 + floor(pg_temp.bu({row}, {salt}) * {len(values)})::int]"


def zipf_counts(total: int, agents: int, skew: float) -> list[int]:
    """Split `total` over `agents` ranks with weight 1/rank**skew (largest remainders)."""
    weights = [1.0 / (rank**skew) for rank in range(1, agents + 1)]
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    rest = total - sum(counts)
    by_fraction = sorted(range(agents), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_fraction[:rest]:
        counts[i] += 1
    return counts


class Command(BaseCommand):
    help = "Seed PostgreSQL with a large skewed data set for benchmarks (set-based SQL)."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=20000)
        parser.add_argument("--agents", type=int, help="partner agents (default cases/100)")
        parser.add_argument("--partners", type=int, help="organizations (default agents/50)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--skew", type=float, default=0.7, help="Zipf exponent")
        parser.add_argument("--referred", type=float, default=0.7, help="share of cases")
        parser.add_argument("--records-fraction", type=float, default=0.1)
        parser.add_argument(
            "--prefix",
            default="seed",
            help="user names <prefix>-agent-00001..., case numbers <PREFIX>-0000001... (not "
            "bench: `bench_routing` owns the bench-* names)",
        )
        parser.add_argument("--password", default=BENCH_PASSWORD)
        parser.add_argument("--force", action="store_true", help="seed a non-empty database")

    # ------------------------------------------------------------------------------------

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("seed_bench needs PostgreSQL (set DATABASE_URL); refusing.")
        n_cases = opts["cases"]
        if n_cases < 10:
            raise CommandError("--cases must be at least 10.")
        n_agents = opts["agents"] or max(10, n_cases // 100)
        n_orgs = opts["partners"] or max(3, n_agents // 50)
        n_orgs = min(n_orgs, n_agents)
        n_agency = max(2, n_agents // 20)
        prefix = opts["prefix"]
        if not prefix.replace("_", "").isalnum():
            raise CommandError("--prefix: letters, digits and _ only.")
        self.seed = opts["seed"]
        self.verbose = opts["verbosity"] > 0
        if not opts["force"] and self._not_empty():
            raise CommandError(
                "The database already holds users, organizations or cases; seed_bench seeds "
                "an empty one (use --force to add to it anyway)."
            )
        started = time.monotonic()
        self.t0 = started
        with connection.cursor() as cursor:
            self.cur = cursor
            with transaction.atomic():
                self._session_settings()
                dropped = self._drop_bulk_objects()
                self._seed(
                    n_cases=n_cases,
                    n_agents=n_agents,
                    n_orgs=n_orgs,
                    n_agency=n_agency,
                    prefix=prefix,
                    skew=opts["skew"],
                    referred=opts["referred"],
                    records_fraction=opts["records_fraction"],
                    password=opts["password"],
                )
                self._restore_bulk_objects(dropped)
                self._sync_sequences()
            self._step("commit")
            cursor.execute("VACUUM ANALYZE")
            self._step("vacuum analyze")
            counts = self._counts()
        self.stdout.write(
            f"seed_bench: {counts['cases_case']} cases, {n_agents} partner agents, "
            f"{n_orgs} organizations, {counts['cases_caseteammember']} case team rows, "
            f"{counts['cases_referral']} referrals, "
            f"{counts['cases_caseuserobjectpermission']} user and "
            f"{counts['cases_casegroupobjectpermission']} group object permissions, "
            f"{counts['records']} records in {time.monotonic() - started:.1f}s "
            f"(password for every {prefix}-* user: {opts['password']!r})"
        )

    # ------------------------------------------------------------------------------------

    def _step(self, label: str) -> None:
        if self.verbose:
            now = time.monotonic()
            self.stderr.write(f"  {label:<34} {now - self.t0:6.1f}s")
            self.t0 = now

    def _not_empty(self) -> bool:
        with connection.cursor() as cursor:
            for table in ("auth_user", "partners_partnerorganization", "cases_case"):
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # noqa: S608
                if cursor.fetchone()[0]:
                    return True
        return False

    def _session_settings(self) -> None:
        for statement in (
            "SET LOCAL synchronous_commit = off",
            "SET LOCAL maintenance_work_mem = '512MB'",
            "SET LOCAL work_mem = '128MB'",
            "SET LOCAL max_parallel_maintenance_workers = 2",
        ):
            self.cur.execute(statement)
        # Deterministic uniform [0, 1) from (row number, salt, seed), order-independent.
        self.cur.execute(
            "CREATE OR REPLACE FUNCTION pg_temp.bu(i bigint, salt int) RETURNS float8 "
            "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT "
            f"(hashint8extended(i, salt::bigint * 7919 + {int(self.seed)}) & 2147483647)"
            "::float8 / 2147483648.0 $$"
        )

    def _drop_bulk_objects(self) -> list[str]:
        """Drop secondary indexes, unique and foreign-key constraints of the bulk tables;
        return the statements that recreate them (indexes first, foreign keys last)."""
        cur = self.cur
        indexes, foreign_keys, drops = [], [], []
        for table in BULK_TABLES:
            cur.execute(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY conname",
                [table],
            )
            for name, kind, definition in cur.fetchall():
                restore = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
                (foreign_keys if kind == "f" else indexes).append(restore)
                drops.append(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            cur.execute(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass "
                "AND NOT i.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
                "WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
                [table],
            )
            for name, definition in cur.fetchall():
                indexes.append(definition)
                drops.append(f'DROP INDEX "{name}"')
        # Foreign keys first: a unique constraint may not go while a key depends on it.
        for statement in sorted(drops, key=lambda s: "DROP INDEX" in s):
            cur.execute(statement)
        self._step(f"dropped {len(drops)} indexes/keys")
        return indexes + foreign_keys

    def _restore_bulk_objects(self, statements: list[str]) -> None:
        for statement in statements:
            self.cur.execute(statement)
        self._step(f"rebuilt {len(statements)} indexes/keys")

    def _sync_sequences(self) -> None:
        for table in ID_TABLES:
            self.cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"GREATEST((SELECT max(id) FROM {table}), 1))"
            )

    def _max_id(self, table: str) -> int:
        self.cur.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")  # noqa: S608
        return self.cur.fetchone()[0]

    def _counts(self) -> dict[str, int]:
        counts = {}
        for table in (
            "cases_case",
            "cases_caseteammember",
            "cases_referral",
            "cases_caseuserobjectpermission",
            "cases_casegroupobjectpermission",
        ):
            self.cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = self.cur.fetchone()[0]
        total = 0
        for table in ("cases_note", "cases_activity", "cases_servicerequest"):
            self.cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            total += self.cur.fetchone()[0]
        counts["records"] = total
        return counts

    # ------------------------------------------------------------------------------------

    def _seed(self, *, n_cases, n_agents, n_orgs, n_agency, prefix, skew, referred,
              records_fraction, password) -> None:  # fmt: skip
        cur = self.cur
        rng = random.Random(self.seed)  # noqa: S311  (reproducible data, not secrets)
        password_hash = make_password(password)
        self._step("password hash")

        # Lookups: programs (created if missing), role groups, case permission ids.
        cur.execute("SELECT COALESCE(max(id), 0) FROM cases_program")
        program_base = cur.fetchone()[0]
        for offset, (code, name) in enumerate(PROGRAMS, start=1):
            cur.execute(
                "INSERT INTO cases_program (id, code, name) OVERRIDING SYSTEM VALUE "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [program_base + offset, code, name],
            )
        cur.execute(
            "SELECT id FROM cases_program WHERE code = ANY(%s) ORDER BY code",
            [[c for c, _ in PROGRAMS]],
        )
        program_ids = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT name, id FROM auth_group WHERE name = ANY(%s)", [list(Role.ALL)])
        groups = dict(cur.fetchall())
        missing = set(Role.ALL) - set(groups)
        if missing:
            raise CommandError(f"Role groups missing (run migrate first): {sorted(missing)}")
        cur.execute(
            "SELECT p.codename, p.id FROM auth_permission p JOIN django_content_type t "
            "ON t.id = p.content_type_id WHERE t.app_label = 'cases' AND t.model = 'case'"
        )
        perm_ids = dict(cur.fetchall())
        tabs = list(default_tabs())
        tab_perm_ids = [perm_ids[c] for c in codenames_for_tabs(tabs)]
        tabs_json = "[" + ",".join(f'"{t}"' for t in tabs) + "]"

        # Id bases: everything written here gets explicit ids above what exists.
        u0 = self._max_id("auth_user")
        g0 = self._max_id("auth_group")
        o0 = self._max_id("partners_partnerorganization")
        c0 = self._max_id("cases_case")
        # User ids: manager u0+1, caseworkers u0+1+k (k=1..n_agency), partner managers
        # ua+o (o=1..n_orgs), partner agents ub+k (k=1..n_agents).
        uw = u0 + 1
        ua = uw + n_agency
        ub = ua + n_orgs
        seed = self.seed

        # Users -----------------------------------------------------------------------
        cur.execute(
            """
            INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name,
                                   email, is_staff, is_active, date_joined)
            OVERRIDING SYSTEM VALUE
            SELECT u, %(pw)s, false, name, first, last, name || '@seed.example', false, true,
                   now() - interval '3 years'
            FROM (
                SELECT %(u0)s + 1 AS u, %(prefix)s || '-manager' AS name,
                       'Morgan' AS first, 'Bench' AS last
                UNION ALL
                SELECT %(uw)s + k, %(prefix)s || '-cw-' || lpad(k::text, 4, '0'),
                       (%(given)s)[1 + k %% %(ng)s], (%(sur)s)[1 + k %% %(ns)s]
                FROM generate_series(1, %(na)s) k
                UNION ALL
                SELECT %(ua)s + o, %(prefix)s || '-pm-' || lpad(o::text, 4, '0'),
                       (%(given)s)[1 + (o * 7) %% %(ng)s], (%(sur)s)[1 + (o * 5) %% %(ns)s]
                FROM generate_series(1, %(no)s) o
                UNION ALL
                SELECT %(ub)s + k, %(prefix)s || '-agent-' || lpad(k::text, 5, '0'),
                       (%(given)s)[1 + (k * 3) %% %(ng)s], (%(sur)s)[1 + (k * 11) %% %(ns)s]
                FROM generate_series(1, %(nk)s) k
            ) AS people
            """.replace("%(given)s", sql_array(GIVEN)).replace("%(sur)s", sql_array(SURNAMES)),
            {
                "pw": password_hash,
                "prefix": prefix,
                "u0": u0,
                "uw": uw,
                "ua": ua,
                "ub": ub,
                "na": n_agency,
                "no": n_orgs,
                "nk": n_agents,
                "ng": len(GIVEN),
                "ns": len(SURNAMES),
            },
        )
        self._step("users")

        # Organizations, their managers groups, partner agents ------------------------
        cur.execute(
            "INSERT INTO auth_group (id, name) OVERRIDING SYSTEM VALUE "
            "SELECT %s + o, 'Partner managers of organization ' || (%s + o) "
            "FROM generate_series(1, %s) o",
            [g0, o0, n_orgs],
        )
        kinds = [k for k, _ in PartnerOrganization.Kind.choices]
        cur.execute(
            f"""
            INSERT INTO partners_partnerorganization (id, name, kind, programs_served,
                service_areas, languages, active, default_tabs, created_at, managers_group_id,
                time_zone, weekly_hours, holiday_country, holiday_subdivision,
                default_response_hours)
            OVERRIDING SYSTEM VALUE
            SELECT %(o0)s + o, initcap(%(prefix)s) || ' Partner ' || lpad(o::text, 4, '0')
                   || ' ' || (%(sur)s)[1 + o %% %(ns)s],
                   ({sql_array(kinds)})[1 + o %% {len(kinds)}],
                   %(programs)s::jsonb, %(regions)s::jsonb, '["en", "es"]'::jsonb, true,
                   %(tabs)s::jsonb, now() - interval '3 years', %(g0)s + o,
                   'America/New_York', %(hours)s::jsonb, 'US', '', %(response_hours)s
            FROM generate_series(1, %(no)s) o
            """.replace("%(sur)s", sql_array(SURNAMES)),  # noqa: S608  (constants only)
            {
                "o0": o0,
                "g0": g0,
                "no": n_orgs,
                "prefix": prefix,
                "ns": len(SURNAMES),
                "programs": '["' + '", "'.join(c for c, _ in PROGRAMS) + '"]',
                "regions": '["' + '", "'.join(REGIONS) + '"]',
                "tabs": tabs_json,
                "hours": json.dumps(default_weekly_hours()),
                "response_hours": RESPONSE_HOURS,
            },
        )
        # Agent k works for organization 1 + (k-1) % n_orgs; partner manager o for o.
        cur.execute(
            """
            INSERT INTO partners_partneragent (user_id, organization_id, role, languages,
                programs, max_open_cases, available)
            SELECT %(ub)s + k, %(o0)s + 1 + (k - 1) %% %(no)s, 'agent',
                   CASE WHEN k %% 3 = 0 THEN '["en", "es"]' ELSE '["en"]' END::jsonb,
                   '[]'::jsonb, 25, true
            FROM generate_series(1, %(nk)s) k
            UNION ALL
            SELECT %(ua)s + o, %(o0)s + o, 'manager', '["en"]'::jsonb, '[]'::jsonb, 25, true
            FROM generate_series(1, %(no)s) o
            """,
            {"ub": ub, "ua": ua, "o0": o0, "no": n_orgs, "nk": n_agents},
        )
        cur.execute(
            """
            INSERT INTO auth_user_groups (user_id, group_id)
            SELECT %(uw)s, %(gm)s
            UNION ALL SELECT %(uw)s + k, %(gc)s FROM generate_series(1, %(na)s) k
            UNION ALL SELECT %(ub)s + k, %(gp)s FROM generate_series(1, %(nk)s) k
            UNION ALL SELECT %(ua)s + o, %(gpm)s FROM generate_series(1, %(no)s) o
            UNION ALL SELECT %(ua)s + o, %(g0)s + o FROM generate_series(1, %(no)s) o
            """,
            {
                "uw": uw,
                "ua": ua,
                "ub": ub,
                "na": n_agency,
                "nk": n_agents,
                "no": n_orgs,
                "g0": g0,
                "gm": groups[Role.AGENCY_MANAGER],
                "gc": groups[Role.AGENCY_CASEWORKER],
                "gp": groups[Role.PARTNER_AGENT],
                "gpm": groups[Role.PARTNER_MANAGER],
            },
        )
        self._step("organizations, agents, groups")

        # Cases -------------------------------------------------------------------------
        # Case i (id c0+i) was created i/N of the way through the last three years. Status
        # from one uniform draw: referred (Third-Party, or Closed after a completed
        # referral) for `referred` of them, the rest open, approved, denied or closed.
        r = float(referred)
        statuses = (
            f"CASE WHEN pg_temp.bu(i, 1) < {r * 0.86} THEN 'third_party' "
            f"WHEN pg_temp.bu(i, 1) < {r} THEN 'closed' "
            f"WHEN pg_temp.bu(i, 1) < {r + (1 - r) * 0.35} THEN 'open' "
            f"WHEN pg_temp.bu(i, 1) < {r + (1 - r) * 0.65} THEN 'approved' "
            f"WHEN pg_temp.bu(i, 1) < {r + (1 - r) * 0.85} THEN 'denied' ELSE 'closed' END"
        )
        cur.execute(
            f"""
            INSERT INTO cases_case (id, number, name, program_id, applicant_name,
                applicant_phone, applicant_email, region, language, priority, summary,
                household_income, applicant_identifier, date_of_birth, eligibility_notes,
                owner_id, status, status_changed_at, created_at, updated_at)
            OVERRIDING SYSTEM VALUE
            SELECT c0 + i, upper(%(prefix)s) || '-' || lpad((c0 + i)::text, 7, '0'),
                   given || ' ' || sur || ' household', programs[1 + i %% {len(program_ids)}],
                   given || ' ' || sur,
                   '555-' || lpad(((i * 7919) %% 10000)::text, 4, '0'),
                   lower(given) || '.' || lower(sur) || i || '@example.net',
                   regions[1 + (i / 7) %% {len(REGIONS)}],
                   CASE WHEN pg_temp.bu(i, 2) < 0.7 THEN 'en'
                        WHEN pg_temp.bu(i, 2) < 0.9 THEN 'es' ELSE 'vi' END,
                   (ARRAY['low', 'normal', 'normal', 'normal', 'high', 'urgent'])
                       [1 + floor(pg_temp.bu(i, 3) * 6)::int],
                   'Household of ' || (2 + i %% 5) || ' applying for ' || programs_name
                       || '; needs help with documentation and the appeal deadline.',
                   round((800 + pg_temp.bu(i, 4) * 3200)::numeric, 2),
                   'ID-' || lpad((i * 104729 %% 100000000)::text, 8, '0'),
                   date '1950-01-01' + (i * 37 %% 20000)::int,
                   'Eligibility verified against wage records.',
                   %(uw)s + 1 + (i %% %(na)s), st,
                   created + interval '2 days', created,
                   LEAST(created + pg_temp.bu(i, 5) * interval '30 days', now())
            FROM (
                SELECT i, %(c0)s::bigint AS c0,
                       (%(given)s)[1 + floor(pg_temp.bu(i, 6) * {len(GIVEN)})::int] AS given,
                       (%(sur)s)[1 + floor(pg_temp.bu(i, 7) * {len(SURNAMES)})::int] AS sur,
                       %(programs)s::bigint[] AS programs, %(regions)s::text[] AS regions,
                       'benefits' AS programs_name, {statuses} AS st,
                       now() - interval '3 years' * (1 - i::float8 / %(n)s) AS created
                FROM generate_series(1, %(n)s::bigint) i
            ) AS g
            """.replace("%(given)s", sql_array(GIVEN)).replace(  # noqa: S608  (constants only)
                "%(sur)s", sql_array(SURNAMES)
            ),
            {
                "prefix": prefix,
                "c0": c0,
                "n": n_cases,
                "uw": uw,
                "na": n_agency,
                "programs": program_ids,
                "regions": REGIONS,
            },
        )
        self._step("cases")

        # Deal the referred cases to agents: Zipf counts over a seeded shuffle of agents,
        # the slots shuffled by hash so each agent's cases spread over time.
        cur.execute(
            "CREATE TEMP TABLE bench_ref ON COMMIT DROP AS "
            "SELECT row_number() OVER (ORDER BY id) AS rn, id AS case_id, status, created_at "
            "FROM cases_case WHERE id > %s AND (status = 'third_party' "
            "OR (status = 'closed' AND pg_temp.bu(id - %s, 1) < %s))",
            [c0, c0, r],
        )
        cur.execute("SELECT count(*) FROM bench_ref")
        n_referred = cur.fetchone()[0]
        counts = zipf_counts(n_referred, n_agents, skew)
        ranks = list(range(1, n_agents + 1))
        rng.shuffle(ranks)  # ranks[k-1]: the popularity rank of agent k
        agent_counts = [counts[ranks[k - 1] - 1] for k in range(1, n_agents + 1)]
        cur.execute(
            "CREATE TEMP TABLE bench_agent ON COMMIT DROP AS "
            "SELECT k::int, %s + k AS user_id, %s + 1 + (k - 1) %% %s AS org_id, n::int "
            "FROM unnest(%s::int[]) WITH ORDINALITY AS t(n, k)",
            [ub, o0, n_orgs, agent_counts],
        )
        cur.execute(
            """
            CREATE TEMP TABLE bench_link ON COMMIT DROP AS
            SELECT j.*, st NOT IN ('declined', 'expired') AS active
            FROM (
                SELECT r.case_id, r.rn, s.k, s.user_id, s.org_id, r.status AS case_status,
                       r.created_at + interval '3 days'
                           + pg_temp.bu(r.rn, 11) * interval '10 days' AS added_at,
                       {LINK_STATES} AS st
                FROM (
                    SELECT a.k, a.user_id, a.org_id,
                           row_number() OVER (ORDER BY hashint8extended(
                               a.k::bigint * 1000003 + g, %(seed)s)) AS rn
                    FROM bench_agent a, generate_series(1, a.n) g
                ) s JOIN bench_ref r USING (rn)
            ) j
            """.replace("{LINK_STATES}", LINK_STATES),
            {"seed": seed},
        )
        # An earlier agent declined, let it expire or was reassigned on some referred cases
        # (an inactive row; the current referral replaces theirs).
        cur.execute(
            """
            CREATE TEMP TABLE bench_past ON COMMIT DROP AS
            SELECT l.case_id, l.rn, a.user_id, a.org_id, l.added_at - interval '4 days'
                   AS added_at,
                   CASE WHEN pg_temp.bu(l.rn, 16) < 0.55 THEN 'declined'
                        WHEN pg_temp.bu(l.rn, 16) < 0.85 THEN 'expired'
                        ELSE 'withdrawn' END AS st
            FROM bench_link l
            JOIN bench_agent a ON a.k = 1 + (l.k + floor(pg_temp.bu(l.rn, 12) * (%(nk)s - 1))::int)
                                        %% %(nk)s
            WHERE pg_temp.bu(l.rn, 13) < 0.05 AND %(nk)s > 1
            """,
            {"nk": n_agents},
        )
        self._step(f"deal {n_referred} referrals")

        # Referrals: one per partner-agent team row, ids r0 + rn (current) and r1 + rn
        # (the earlier agent's, which the current one replaces).
        cur.execute("SELECT COALESCE(max(id), 0) FROM cases_referral")
        r0 = cur.fetchone()[0]
        r1 = r0 + n_referred
        now = timezone.now()
        # "Completed this week" counts from Monday 00:00 in the site's time zone (the board's
        # filter): some completions fall in it whatever the day of the run.
        week_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        week_start -= timedelta(days=week_start.weekday())
        self._seed_referrals(r0=r0, r1=r1, now=now, week_start=week_start)
        self._step("referrals")

        # Case Team: every owner; each current referral's partner agent (on the team unless
        # the referral came back to the owner); the earlier inactive agents.
        cur.execute(
            """
            INSERT INTO cases_caseteammember (case_id, user_id, role, organization_id,
                is_active, tabs, referral_id, referral_state, seen_at, added_by_id, added_at,
                access_end)
            SELECT id, owner_id, 'owner', NULL, true, '[]'::jsonb, NULL, '', created_at,
                   owner_id, created_at, ''
            FROM cases_case WHERE id > %(c0)s
            """,
            {"c0": c0},
        )
        # The client's consent for each organization a case was referred to, as
        # services.consent_record writes it: from the first referral until two years from
        # now, covering the details and every tab.
        cur.execute(
            """
            INSERT INTO cases_consent (case_id, organization_id, program_id, purpose, data,
                starts_on, ends_on, method, document_id, witness, information, signed_on,
                supersedes_id, recorded_by_id, recorded_at, revoked_at, revoked_by_id,
                revoked_reason)
            SELECT m.case_id, m.org_id, NULL, 'Referral to a partner', %(data)s::jsonb,
                   (LEAST(min(m.added_at), %(now)s) AT TIME ZONE %(tz)s)::date,
                   (%(now)s + interval '2 years')::date,
                   'electronic', NULL, '', '', NULL, NULL, min(c.owner_id), min(m.added_at),
                   NULL, NULL, ''
            FROM (SELECT case_id, org_id, added_at FROM bench_link
                  UNION ALL SELECT case_id, org_id, added_at FROM bench_past) m
            JOIN cases_case c ON c.id = m.case_id
            GROUP BY m.case_id, m.org_id
            """,
            {
                "data": json.dumps(["details", *json.loads(tabs_json)]),
                "now": timezone.now(),
                "tz": settings.TIME_ZONE,
            },
        )
        self._step("consents")

        # Each partner agent's copy of its basis (services.access_refresh): until the end
        # of the consent's last day.
        cur.execute(
            """
            INSERT INTO cases_caseteammember (case_id, user_id, role, organization_id,
                is_active, tabs, referral_id, referral_state, seen_at, added_by_id, added_at,
                access_until, access_end)
            SELECT l.case_id, l.user_id, 'partner_agent', l.org_id, l.active, %(tabs)s::jsonb,
                   %(r0)s + l.rn, l.st,
                   CASE WHEN l.st = 'pending' AND pg_temp.bu(l.rn, 15) < 0.7 THEN NULL
                        ELSE l.added_at + interval '2 hours' END,
                   c.owner_id, l.added_at,
                   ((%(now)s + interval '2 years')::date + 1)::timestamp AT TIME ZONE %(tz)s,
                   CASE WHEN l.active THEN 'expired' ELSE '' END
            FROM bench_link l JOIN cases_case c ON c.id = l.case_id
            UNION ALL
            SELECT p.case_id, p.user_id, 'partner_agent', p.org_id, false, %(tabs)s::jsonb,
                   %(r1)s + p.rn, p.st, p.added_at + interval '1 hour', c.owner_id, p.added_at,
                   NULL, ''
            FROM bench_past p JOIN cases_case c ON c.id = p.case_id
            """,
            {"tabs": tabs_json, "r0": r0, "r1": r1, "tz": settings.TIME_ZONE, "now": now},
        )
        self._step("case team")

        # Partners: every organization of an agent on the team, the earliest one Primary.
        cur.execute(
            """
            INSERT INTO cases_casepartner (case_id, partner_id, is_primary, added_by_id,
                                           added_at)
            SELECT case_id, org_id,
                   row_number() OVER (PARTITION BY case_id ORDER BY added_at) = 1,
                   owner_id, added_at
            FROM (
                SELECT DISTINCT ON (m.case_id, m.org_id) m.case_id, m.org_id, m.added_at,
                       c.owner_id
                FROM (SELECT case_id, org_id, added_at FROM bench_link
                      UNION ALL SELECT case_id, org_id, added_at FROM bench_past) m
                JOIN cases_case c ON c.id = m.case_id
                ORDER BY m.case_id, m.org_id, m.added_at
            ) d
            """
        )
        self._step("case partners")

        # Object permissions, as permissions.grant_partner_agent and
        # sync_organization_managers would have left them.
        cur.execute(
            "INSERT INTO cases_caseuserobjectpermission (content_object_id, permission_id, "
            "user_id) SELECT l.case_id, p, l.user_id FROM bench_link l, unnest(%s::int[]) p "
            "WHERE l.active",
            [tab_perm_ids],
        )
        cur.execute(
            "INSERT INTO cases_casegroupobjectpermission (content_object_id, permission_id, "
            "group_id) SELECT l.case_id, p, %s + (l.org_id - %s) "
            "FROM bench_link l, unnest(%s::int[]) p WHERE l.active",
            [g0, o0, tab_perm_ids],
        )
        self._step("object permissions")

        # Records and events for a sample of the referred cases a partner has worked.
        if records_fraction > 0:
            cur.execute(
                "CREATE TEMP TABLE bench_sample ON COMMIT DROP AS "
                "SELECT l.case_id, l.rn, l.user_id, l.added_at, c.owner_id, c.created_at "
                "FROM bench_link l JOIN cases_case c ON c.id = l.case_id "
                "WHERE pg_temp.bu(l.rn, 21) < %s AND l.st = ANY(%s)",
                [records_fraction, list(WORKED_STATES)],
            )
            self._seed_records()
            self._step("records and events")

    def _seed_referrals(self, *, r0, r1, now, week_start) -> None:
        """One Referral per partner-agent team row, in the row's state (`bench_link.st`,
        `bench_past.st`), with what the services would have written: a due time (in the
        future for most pending ones, passed for the overdue), the answer, start and end
        times, a coded reason, an outcome, a review date, the escalation time."""
        cur = self.cur
        columns = """id, case_id, organization_id, agent_id, state, requested_by_id,
            requested_at, due_at, response_hours, responded_at, started_at, completed_at,
            reason, reason_note, outcome, outcome_note, review_at, waitlist_position,
            routing_decision_id, replaces_id, escalated_at, with_owner"""
        declined = sql_pick(DECLINE_REASONS, "rn", 19)
        failed = sql_pick(FAIL_REASONS, "l.rn", 19)
        outcome = sql_pick(OUTCOMES, "rn", 19)
        # The earlier agents' referrals first (the current ones replace them).
        cur.execute(
            f"""
            INSERT INTO cases_referral ({columns})
            OVERRIDING SYSTEM VALUE
            SELECT %(r1)s + rn, case_id, org_id, user_id, st, owner_id, added_at,
                   added_at + interval '2 days', %(hours)s,
                   CASE WHEN st = 'declined' THEN added_at + interval '1 day' END, NULL,
                   added_at + CASE WHEN st = 'expired' THEN interval '2 days'
                                   ELSE interval '1 day' END,
                   CASE st WHEN 'declined' THEN {declined} WHEN 'withdrawn' THEN 'reassigned'
                           ELSE '' END,
                   '', '', '', NULL, NULL, NULL, NULL, NULL, false
            FROM (SELECT p.*, c.owner_id FROM bench_past p
                  JOIN cases_case c ON c.id = p.case_id) p
            """,  # noqa: S608  (constants only)
            {"r1": r1, "hours": RESPONSE_HOURS},
        )
        cur.execute(
            f"""
            INSERT INTO cases_referral ({columns})
            OVERRIDING SYSTEM VALUE
            SELECT %(r0)s + rn, case_id, org_id, user_id, st, owner_id, added_at, due_at,
                   %(hours)s, responded_at, started_at, completed_at, reason, '',
                   CASE WHEN st = 'completed' THEN {outcome} ELSE '' END,
                   CASE WHEN st = 'completed' THEN 'Helped the household with the '
                        'application and its documents; follow-up call done.' ELSE '' END,
                   CASE WHEN st <> 'waitlisted' THEN NULL
                        WHEN pg_temp.bu(rn, 17) < 0.2
                        THEN %(now)s - interval '1 hour' - pg_temp.bu(rn, 18) * interval '7 days'
                        ELSE %(now)s + interval '1 day' + pg_temp.bu(rn, 18) * interval '30 days'
                   END,
                   CASE WHEN st = 'waitlisted' THEN 1 + floor(pg_temp.bu(rn, 19) * 20)::int END,
                   NULL, replaces_id,
                   CASE WHEN st IN ('declined', 'expired')
                        THEN completed_at + interval '1 hour' END,
                   -- The latest referral came back and the case is still Third-Party.
                   st IN ('declined', 'expired') AND case_status = 'third_party'
            FROM (
                SELECT l.*, c.owner_id,
                       CASE WHEN p.rn IS NOT NULL THEN %(r1)s + p.rn END AS replaces_id,
                       CASE WHEN l.st <> 'pending' THEN l.added_at + interval '2 days'
                            WHEN pg_temp.bu(l.rn, 17) < 0.15
                            THEN %(now)s - interval '1 hour'
                                 - pg_temp.bu(l.rn, 18) * interval '10 days'
                            ELSE %(now)s + interval '1 hour'
                                 + pg_temp.bu(l.rn, 18) * interval '47 hours' END AS due_at,
                       CASE WHEN l.st NOT IN ('pending', 'expired')
                            THEN l.added_at + interval '1 day' END AS responded_at,
                       CASE WHEN l.st IN ('in_progress', 'completed', 'could_not_help')
                            THEN l.added_at + interval '2 days' END AS started_at,
                       CASE l.st
                            WHEN 'completed' THEN
                                CASE WHEN l.case_status = 'third_party'
                                          AND pg_temp.bu(l.rn, 17) < 0.3
                                     THEN %(week)s + pg_temp.bu(l.rn, 18) * (%(now)s - %(week)s)
                                     ELSE LEAST(l.added_at + interval '5 days'
                                                + pg_temp.bu(l.rn, 18) * interval '55 days',
                                                %(now)s) END
                            WHEN 'could_not_help'
                                THEN LEAST(l.added_at + interval '10 days', %(now)s)
                            WHEN 'declined' THEN l.added_at + interval '1 day'
                            WHEN 'expired' THEN l.added_at + interval '2 days'
                       END AS completed_at,
                       CASE l.st WHEN 'declined' THEN {sql_pick(DECLINE_REASONS, "l.rn", 19)}
                                 WHEN 'could_not_help' THEN {failed}
                                 ELSE '' END AS reason
                FROM bench_link l JOIN cases_case c ON c.id = l.case_id
                LEFT JOIN bench_past p ON p.rn = l.rn
            ) l
            """,  # noqa: S608  (constants only)
            {"r0": r0, "r1": r1, "hours": RESPONSE_HOURS, "now": now, "week": week_start},
        )

    def _seed_records(self) -> None:
        cur = self.cur
        cur.execute(
            """
            INSERT INTO cases_note (case_id, author_id, by_partner, shared_with_partners,
                                    substance_use, created_at, updated_at, body)
            SELECT s.case_id, CASE WHEN j = 2 THEN s.user_id ELSE s.owner_id END, j = 2,
                   j < 3, false, t, t,
                   CASE j WHEN 1 THEN 'Applicant called about the hearing date; documents '
                                      'requested by mail.'
                          WHEN 2 THEN 'Met the applicant; intake form completed and signed.'
                          ELSE 'Internal: income verification pending with the state.' END
            FROM bench_sample s, generate_series(1, 3) j,
                 LATERAL (SELECT s.added_at + j * interval '1 day' AS t) tt
            """
        )
        cur.execute(
            """
            INSERT INTO cases_activity (case_id, author_id, by_partner, shared_with_partners,
                substance_use, created_at, updated_at, type, subject, description, due_date,
                status)
            SELECT s.case_id, s.user_id, true, true, false, t, t,
                   (ARRAY['call', 'meeting', 'task'])[j], 'Follow-up ' || j,
                   'Discuss next steps with the applicant.', (t + interval '7 days')::date,
                   CASE WHEN j = 1 THEN 'done' ELSE 'planned' END
            FROM bench_sample s, generate_series(1, 2) j,
                 LATERAL (SELECT s.added_at + j * interval '5 hours' AS t) tt
            """
        )
        cur.execute(
            """
            INSERT INTO cases_servicerequest (case_id, author_id, by_partner,
                shared_with_partners, substance_use, created_at, updated_at, number, title,
                description, status, priority)
            SELECT s.case_id, s.user_id, true, true, false, s.added_at + interval '1 day',
                   s.added_at + interval '1 day', 'SR-' || s.case_id, 'Records request',
                   'Request the applicant''s wage records.', 'open', 'normal'
            FROM bench_sample s
            """
        )
        cur.execute(
            """
            INSERT INTO cases_caseevent (case_id, actor_id, by_partner, verb, data, created_at)
            SELECT s.case_id, s.owner_id, false, 'created', '{}'::jsonb, s.created_at
            FROM bench_sample s
            UNION ALL
            SELECT s.case_id, s.owner_id, false, 'team_added', '{}'::jsonb, s.added_at
            FROM bench_sample s
            UNION ALL
            SELECT s.case_id, s.user_id, true, 'record_added', '{"kind": "notes"}'::jsonb,
                   s.added_at + interval '2 days'
            FROM bench_sample s
            """
        )
