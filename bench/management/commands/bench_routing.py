"""Benchmark of automatic routing: cases routed per second, with 1 or more processes.

    python manage.py bench_routing --cases 2000 --processes 1
    python manage.py bench_routing --cases 2000 --processes 2

Creates N unassigned Third-Party cases in bulk (a fixture: no services, no events), routes
them with `cases_route_unassigned` (the real path: locks, `case_team_add`, decision,
events, notification queued on commit) from P processes working the same queue, checks
that no case was assigned twice and that the workloads add up, and deletes the cases
(unless --keep). Meant for PostgreSQL; run it on a database of its own.
"""

import multiprocessing
import time
from collections import Counter
from datetime import timedelta

import pgtrigger
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from cases.models import (
    AssignmentRule,
    Case,
    CaseTeamMember,
    Consent,
    Program,
    Referral,
    RoutingDecision,
)
from cases.records import RECORD_KINDS
from cases.routing import cases_route_unassigned
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import partner_agent_save

PREFIX = "BENCH-"
Role = CaseTeamMember.Role


def _bench_cases():
    return Case.objects.filter(number__startswith=PREFIX)


def _route_worker(_index: int) -> tuple[Counter, float]:
    connections.close_all()  # a fresh connection in each process
    started = time.perf_counter()
    counts = cases_route_unassigned(actor=None, cases=_bench_cases())
    elapsed = time.perf_counter() - started
    connections.close_all()
    return counts, elapsed


class Command(BaseCommand):
    help = "Measure automatic routing throughput (cases routed per second)."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=1000)
        parser.add_argument("--processes", type=int, default=1)
        parser.add_argument("--pools", type=int, default=4, help="Regions, one rule each.")
        parser.add_argument("--agents", type=int, default=10, help="Agents per pool.")
        parser.add_argument("--keep", action="store_true", help="Keep the routed cases.")

    def handle(self, *args, cases, processes, pools, agents, keep, **options):
        if cases < 1 or processes < 1 or pools < 1 or agents < 1:
            raise CommandError("--cases, --processes, --pools and --agents must be positive.")
        if connection.vendor != "postgresql":
            self.stderr.write("Not PostgreSQL: figures are not comparable with the target.")
        if _bench_cases().exists():
            raise CommandError("Bench cases from an earlier run exist; remove them first.")
        self._setup(cases=cases, pools=pools, agents=agents)
        self._create_cases(cases, pools)
        connections.close_all()

        started = time.perf_counter()
        if processes == 1:
            results = [_route_worker(0)]
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(processes) as pool:
                results = pool.map(_route_worker, range(processes))
        wall = time.perf_counter() - started

        total = Counter()
        for index, (counts, elapsed) in enumerate(results, start=1):
            total.update(counts)
            routed = counts.get(RoutingDecision.Outcome.ASSIGNED, 0)
            self.stdout.write(
                f"  process {index}: {routed} cases in {elapsed:.2f} s = "
                f"{routed / elapsed:.0f} cases/s"
            )
        routed = total.get(RoutingDecision.Outcome.ASSIGNED, 0)
        self.stdout.write(
            f"{processes} process{'es' if processes > 1 else ''}: {routed} of {cases} cases "
            f"routed in {wall:.2f} s = {routed / wall:.0f} cases/s in total, "
            f"{routed / wall / processes:.0f} cases/s per process"
        )
        self._check(cases)
        if not keep:
            self._cleanup()

    def _setup(self, *, cases: int, pools: int, agents: int) -> None:
        """Program, organizations, agents and one rule per region (kept between runs)."""
        User = get_user_model()
        self.owner, _ = User.objects.get_or_create(
            username="bench-owner", defaults={"email": "bench-owner@example.invalid"}
        )
        self.program, _ = Program.objects.get_or_create(
            code="BENCH", defaults={"name": "Benchmark program"}
        )
        capacity = cases  # never the limit: the bench measures routing, not saturation
        for p in range(pools):
            org, _ = PartnerOrganization.objects.get_or_create(
                name=f"Bench Partner {p + 1}",
                defaults={"languages": ["en"], "programs_served": ["BENCH"]},
            )
            for a in range(agents):
                user, created = User.objects.get_or_create(
                    username=f"bench-agent-{p + 1}-{a + 1}",
                    defaults={"email": f"bench-agent-{p + 1}-{a + 1}@example.invalid"},
                )
                if created or not hasattr(user, "partner_agent"):
                    partner_agent_save(
                        user=user,
                        organization=org,
                        languages=["en"],
                        programs=["BENCH"],
                        max_open_cases=capacity,
                    )
                else:
                    PartnerAgent.objects.filter(user=user).update(max_open_cases=capacity)
            rule, _ = AssignmentRule.objects.update_or_create(
                name=f"Bench region {p + 1}",
                defaults={
                    "order": 0,  # before any other rule
                    "active": True,
                    "region": f"Bench {p + 1}",
                    "program": self.program,
                    "strategy": AssignmentRule.Strategy.LEAST_LOADED,
                    "response_window_hours": 48,
                },
            )
            rule.organizations.set([org])
        self.pools = pools

    @transaction.atomic
    def _create_cases(self, count: int, pools: int) -> None:
        """Unassigned Third-Party cases in bulk, spread over the regions."""
        batch = [
            Case(
                number=f"{PREFIX}{i:07d}",
                name="Benchmark case",
                program=self.program,
                applicant_name="Benchmark applicant",
                region=f"Bench {i % pools + 1}",
                language="en",
                owner=self.owner,
                status=Case.Status.THIRD_PARTY,
            )
            for i in range(count)
        ]
        created = Case.objects.bulk_create(batch, batch_size=1000)
        CaseTeamMember.objects.bulk_create(
            [CaseTeamMember(case=case, user=self.owner, role=Role.OWNER) for case in created],
            batch_size=1000,
        )
        # The client's consent for every partner of the program: routing may pick any.
        today = timezone.localdate()
        Consent.objects.bulk_create(
            [
                Consent(
                    case=case,
                    program=self.program,
                    purpose="Benchmark referral",
                    data=["details", *(kind.slug for kind in RECORD_KINDS)],
                    starts_on=today,
                    ends_on=today + timedelta(days=365),
                    method=Consent.Method.ELECTRONIC,
                    recorded_by=self.owner,
                )
                for case in created
            ],
            batch_size=1000,
        )

    def _check(self, count: int) -> None:
        bench = _bench_cases()
        partner_rows = CaseTeamMember.objects.filter(
            case__in=bench, role=Role.PARTNER_AGENT, is_active=True
        )
        twice = partner_rows.values("case_id").annotate(n=Count("pk")).filter(n__gt=1).count()
        unassigned = bench.exclude(pk__in=partner_rows.values("case_id")).count()
        decisions = RoutingDecision.objects.filter(
            case__in=bench, outcome=RoutingDecision.Outcome.ASSIGNED
        )
        duplicate_decisions = (
            decisions.values("case_id").annotate(n=Count("pk")).filter(n__gt=1).count()
        )
        bench_agents = PartnerAgent.objects.filter(user__username__startswith="bench-agent-")
        over = bench_agents.annotate(
            open=Count(
                "user__case_memberships",
                filter=Q(
                    user__case_memberships__is_active=True,
                    user__case_memberships__referral_state__in=Referral.OPEN_STATES,
                ),
            )
        ).filter(open__gt=F("max_open_cases"))
        load = partner_rows.count()
        ok = twice == 0 and duplicate_decisions == 0 and not over.exists()
        self.stdout.write(
            f"check: {load} active assignments for {count} cases, {unassigned} unassigned, "
            f"{twice} cases assigned twice, {duplicate_decisions} cases with two decisions, "
            f"{over.count()} agents over capacity: {'OK' if ok else 'FAILED'}"
        )
        if not ok:
            raise CommandError("Double assignment or capacity breach detected.")

    def _cleanup(self) -> None:
        bench = _bench_cases()
        case_ids = list(bench.values_list("pk", flat=True))
        referrals = Referral.objects.filter(case__in=bench)
        referral_ids = list(referrals.values_list("pk", flat=True))
        with transaction.atomic():
            # Referrals are kept with their case (PROTECT): the team rows that point at them
            # go first, then the referrals (a replacement chain unlinked), then the cases.
            CaseTeamMember.objects.filter(case__in=bench).delete()
            Consent.objects.filter(case__in=bench).delete()
            referrals.exclude(replaces=None).update(replaces=None)
            referrals.delete()
            # Events are append-only (in the ORM and by a trigger) and protect their case: the
            # scratch database's own are removed in plain SQL, past the trigger.
            with (
                pgtrigger.ignore("cases.CaseEvent:caseevent_append_only"),
                connection.cursor() as cursor,
            ):
                cursor.execute("DELETE FROM cases_caseevent WHERE case_id = ANY(%s)", [case_ids])
            bench.delete()
        try:  # the emails the run queued for the bench agents (never sent)
            from django_tasks_db.models import DBTaskResult

            DBTaskResult.objects.filter(
                Q(args_kwargs__kwargs__referral_id__in=referral_ids)
                | Q(args_kwargs__kwargs__case_id__in=case_ids),
                task_path="cases.tasks.send_notification",
            ).delete()
        except Exception as exc:  # another task backend: nothing was stored
            self.stderr.write(f"Queued emails left as they are ({exc.__class__.__name__}).")
