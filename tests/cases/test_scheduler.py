"""`manage.py run_scheduler`: the periodic referral expiry, queued for the task worker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

ROOT = Path(__file__).resolve().parents[2]
EXPIRY = "cases.tasks.expire_overdue_referrals"


@pytest.fixture
def database_queue(settings):
    """The database queue of `make run` and production, instead of the suite's immediate
    backend. Changing TASKS resets django_tasks' cached backends (its setting_changed
    receiver), here and again when the test ends."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def queued_expiries():
    return DBTaskResult.objects.filter(task_path=EXPIRY, status=TaskResultStatus.READY)


def test_once_queues_one_expiry_for_the_worker(db, database_queue, caplog):
    caplog.set_level("INFO", logger="cases.scheduler")
    call_command("run_scheduler", "--once")

    task = queued_expiries().get()
    assert task.args_kwargs == {"args": [], "kwargs": {}}
    assert f"Referral expiry queued for the worker ({task.id})." in caplog.messages


def test_once_queues_nothing_while_the_last_expiry_still_waits_for_the_worker(
    db, database_queue, caplog
):
    caplog.set_level("INFO", logger="cases.scheduler")
    call_command("run_scheduler", "--once")
    call_command("run_scheduler", "--once")

    assert queued_expiries().count() == 1
    assert "Referral expiry already queued, waiting for the worker: not queued." in (
        caplog.messages
    )


def test_once_queues_again_after_the_worker_ran_the_last_expiry(db, database_queue):
    call_command("run_scheduler", "--once")
    # What the worker leaves behind once the job has run.
    queued_expiries().update(status=TaskResultStatus.SUCCESSFUL)

    call_command("run_scheduler", "--once")

    assert queued_expiries().count() == 1
    assert DBTaskResult.objects.filter(task_path=EXPIRY).count() == 2


def test_other_queued_tasks_do_not_hold_back_the_expiry(db, database_queue):
    from cases.tasks import reroute_after_decline

    reroute_after_decline.enqueue(member_id=1)

    call_command("run_scheduler", "--once")

    assert queued_expiries().count() == 1


def test_with_the_immediate_backend_once_runs_the_expiry_at_once(db, caplog):
    caplog.set_level("INFO", logger="cases.scheduler")
    call_command("run_scheduler", "--once")

    assert not DBTaskResult.objects.exists()
    assert any(message.startswith("Referral expiry queued") for message in caplog.messages)


def test_every_must_be_a_positive_number_of_seconds(db):
    with pytest.raises(CommandError, match="greater than zero"):
        call_command("run_scheduler", "--every", "0")


@pytest.fixture(scope="module")
def migrated_sqlite_env(tmp_path_factory):
    """The environment of a process on a migrated SQLite file of its own, with the queue."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('scheduler') / 'db.sqlite3'}",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    return env


def wait_for(path: Path, text: str, process: subprocess.Popen, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log = path.read_text()
        if text in log:
            return log
        assert process.poll() is None, log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the log after {seconds} s:\n{path.read_text()}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_scheduler_runs_every_few_seconds_and_stops_cleanly_on_a_signal(
    migrated_sqlite_env, tmp_path, signum
):
    log_path = tmp_path / "scheduler.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_scheduler", "--every", "0.2"],
            cwd=ROOT,
            env=migrated_sqlite_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(log_path, "Scheduler started", process)
        # Two runs: the first queues, the next finds it still waiting (no worker here).
        wait_for(log_path, "already queued", process)
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert f"Scheduler stopped ({signum.name})." in log
    assert "Traceback" not in log
