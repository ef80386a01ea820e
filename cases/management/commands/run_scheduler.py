"""The periodic jobs: queue the referral and consent expiry for the task worker every few
seconds."""

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connections, transaction
from django_tasks import TaskResultStatus
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from cases.tasks import expire_overdue_referrals

logger = logging.getLogger("cases.scheduler")


def expiry_enqueue() -> str | None:
    """Queue `expire_overdue_referrals` unless one is already waiting for the worker.

    Returns the id of the queued task, or None when one was still queued (READY): a stopped
    worker then finds one job, not one per tick. With a backend that is not the database
    queue (the tests' immediate backend), the job runs as it is enqueued."""
    task = expire_overdue_referrals
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return task.enqueue().id
    with transaction.atomic():
        waiting = DBTaskResult.objects.filter(
            status=TaskResultStatus.READY,
            task_path=task.module_path,
            backend_name=backend.alias,
        )
        if waiting.exists():
            return None
        return task.enqueue().id


class Command(BaseCommand):
    help = (
        "Every --every seconds, queue the referral expiry (cases.tasks.expire_overdue_referrals) "
        "for the task worker (manage.py db_worker), unless one is still queued. Run one per "
        "deployment. Stops on SIGTERM or SIGINT; --once queues once and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            default=60.0,
            metavar="SECONDS",
            help="Seconds between two runs (default: 60).",
        )
        parser.add_argument(
            "--once", action="store_true", help="Queue the job once, then exit (for tests)."
        )

    def handle(self, *args, every=60.0, once=False, **options):
        if every <= 0:
            raise CommandError("--every takes a number of seconds greater than zero.")
        if once:
            self.tick()
            return
        stopping = threading.Event()
        received = []

        def stop(signum, frame):
            # Only note it: the loop wakes from its wait and ends after the current run.
            received.append(signal.Signals(signum).name)
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        logger.info("Scheduler started: referral expiry every %g seconds.", every)
        while not stopping.is_set():
            # Like a request: drop connections the database closed or CONN_MAX_AGE ended.
            close_old_connections()
            try:
                self.tick()
            except DatabaseError:
                # One failed run (database restarting) must not stop the other processes
                # that honcho or the process supervisor runs alongside this one.
                logger.exception("Scheduler run failed; trying again in %g seconds.", every)
            stopping.wait(every)
        connections.close_all()
        logger.info("Scheduler stopped (%s).", received[0])

    def tick(self) -> None:
        task_id = expiry_enqueue()
        if task_id is None:
            logger.info("Referral expiry already queued, waiting for the worker: not queued.")
        else:
            logger.info("Referral expiry queued for the worker (%s).", task_id)
