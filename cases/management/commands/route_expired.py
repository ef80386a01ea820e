"""Expire overdue referrals, then re-route or escalate their cases (idempotent)."""

from django.core.management.base import BaseCommand

from cases.routing import referrals_expire_overdue
from cases.tasks import expire_overdue_referrals

from .route_unassigned import format_counts


class Command(BaseCommand):
    help = (
        "Expire pending referrals past their response window, then route each case to the "
        "next candidate or escalate it to its owner, as its rule says. Idempotent: run it "
        "from cron every few minutes, or hand it to the task worker with --enqueue."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue the job for the task worker (manage.py db_worker) instead of running it.",
        )
        parser.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="MINUTES",
            help="With --enqueue: the job queues its own next run this many minutes later.",
        )

    def handle(self, *args, enqueue=False, every=0, **options):
        if enqueue:
            result = expire_overdue_referrals.enqueue(every_minutes=every)
            again = f", then every {every} minutes" if every else ""
            self.stdout.write(f"Queued for the task worker ({result.id}){again}.")
            return
        counts = referrals_expire_overdue()
        self.stdout.write(f"Expired referrals: {format_counts(counts)}.")
