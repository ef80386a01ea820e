"""The web server and the task worker share one SQLite file under `make run`: two processes
writing at once never get "database is locked" (WAL, BEGIN IMMEDIATE and a busy timeout in
casesite/settings.py). Runs in both suite runs: it uses its own SQLite file, whatever
DATABASE_URL the suite has."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WRITES = 200

# Like the web server and the task worker: each write its own transaction, with a pause
# between two (SQLite's busy handler is not fair: without pauses, whichever process holds the
# lock first could run its whole loop while the other waits, and nothing would overlap).
ENQUEUER = f"""
import django, sys, time
django.setup()
from django.db import transaction
from cases.tasks import expire_overdue_referrals

sys.stdin.readline()
for _ in range({WRITES}):
    with transaction.atomic():
        expire_overdue_referrals.enqueue()
    time.sleep(0.002)
"""

# Reads, then writes in the same transaction: the lock upgrade that a busy timeout alone
# cannot resolve under the default deferred transactions.
CLAIMER = f"""
import django, json, sys, time
django.setup()
from django.contrib.auth import get_user_model
from django.db import transaction
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

sys.stdin.readline()
claimed = 0
for i in range({WRITES}):
    with transaction.atomic():
        waiting = DBTaskResult.objects.filter(status=TaskResultStatus.READY).first()
        get_user_model().objects.create(username=f"writer-{{i}}")
        if waiting is not None:
            claimed += DBTaskResult.objects.filter(
                pk=waiting.pk, status=TaskResultStatus.READY
            ).update(status=TaskResultStatus.SUCCESSFUL)
    time.sleep(0.002)
print(json.dumps({{"claimed": claimed}}))
"""

COUNT = """
import django, json
django.setup()
from django.contrib.auth import get_user_model
from django.db import connection
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
print(json.dumps({
    "tasks": DBTaskResult.objects.count(),
    "successful": DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count(),
    "users": get_user_model().objects.filter(username__startswith="writer-").count(),
    "journal_mode": journal_mode,
}))
"""


@pytest.fixture
def sqlite_file_env(tmp_path):
    """The environment of a process on a fresh, migrated SQLite file of its own."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "casesite.settings",
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    return env


def python(code: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603  (our own scripts above)
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_writing_one_sqlite_file_at_once_are_never_locked_out(sqlite_file_env):
    writers = [python(ENQUEUER, sqlite_file_env), python(CLAIMER, sqlite_file_env)]
    # Both are set up before either writes, so that their loops overlap.
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    outcomes = [writer.communicate(timeout=60) for writer in writers]

    for writer, (_, err) in zip(writers, outcomes, strict=True):
        assert "database is locked" not in err
        assert writer.returncode == 0, err
    claimed = json.loads(outcomes[1][0])["claimed"]
    assert claimed > 0, "the two loops did not overlap: the claimer never saw a queued task"
    counted = subprocess.run(  # noqa: S603  (our own script above)
        [sys.executable, "-c", COUNT],
        cwd=ROOT,
        env=sqlite_file_env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(counted.stdout) == {
        "tasks": WRITES,
        "successful": claimed,
        "users": WRITES,
        "journal_mode": "wal",
    }
