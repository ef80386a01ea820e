"""SECURITY.md 23 and 24, against a real gunicorn started by the test (PostgreSQL only):

- the test database becomes unreachable under load (connections refused and every backend
  terminated; the PostgreSQL server itself keeps running for everyone else): requests get
  the friendly 503, never a traceback, and none fails once the database is back
  (CONN_HEALTH_CHECKS replaces the dead connections);
- workers are killed (SIGKILL) in the middle of case team changes: no half-written change
  (every active partner agent on a team has its TEAM_ADDED event and its permissions, and
  every permission and event has its team member).

Traffic goes to 127.0.0.1 only; every loop is bounded in count and time."""

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg2
import pytest
from django.db import connection
from django.test import Client

from cases.models import CaseEvent, CasePartner, CaseTeamMember, CaseUserObjectPermission
from tests.factories import PartnerAgentFactory, UserFactory, make_case, record_consent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the outage is simulated on the test database "
            f"(this run uses {connection.vendor})"
        )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return (
        f"postgresql://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
        f"/{s['NAME']}"
    )


def admin_connection():
    """A connection to the maintenance database, to switch the test database off and on."""
    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname="postgres",
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )
    conn.autocommit = True
    return conn


def request(port, method, path, *, cookies="", body=None, headers=None, timeout=40):
    """One HTTP request to the local server: (status, body) or ("error", repr)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Cookie": cookies, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        return "error", repr(exc)
    finally:
        conn.close()


@contextmanager
def gunicorn(*, app="casesite.wsgi", workers=2, **env):
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "casesite.settings",
        "DATABASE_URL": database_url(),
        "CONN_MAX_AGE": "60",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "BEHIND_TLS_PROXY": "0",
        "MFA_REQUIRED_FOR": "",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "TASKS_BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    process = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            app + ":application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "30",
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
            "--access-logformat",
            "%(m)s %(U)s %(s)s %(M)sms",
        ],
        cwd=ROOT,
        env=environment,
        # GUNICORN_LOG=<file> keeps the server's access and error log of a run.
        stdout=(log := open(os.environ.get("GUNICORN_LOG", os.devnull), "w")),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while request(port, "GET", "/healthz", timeout=2)[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.2)
        process.port = port
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def worker_pids(process) -> list[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def in_parallel(calls, threads=4):
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: call(), calls))


# 23: database outage under load ------------------------------------------------------------


def test_a_database_outage_gets_a_friendly_503_and_nothing_fails_once_it_is_back(caseworker):
    cookie = session_cookie(caseworker)
    name = connection.settings_dict["NAME"]
    admin = admin_connection()
    pages = ["/cases/", "/cases/referrals/", "/password/", "/cases/new/"]

    def load(count):
        paths = [pages[i % len(pages)] for i in range(count)]
        return in_parallel([lambda p=p: request(port, "GET", p, cookies=cookie) for p in paths])

    with gunicorn(workers=2) as server:
        port = server.port
        before = load(16)
        assert {status for status, _ in before} == {200}, before[:1]
        try:
            with admin.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                )
            during = load(24)
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.close()
            connection.close()  # this test's own connection was terminated too
        statuses = [status for status, _ in during]
        assert set(statuses) == {503}, [o for o in during if o[0] != 503][:3]
        for _, body in during:
            assert "temporarily unavailable" in body
            for leak in ("Traceback", "OperationalError", "psycopg2", name, "SELECT"):
                assert leak not in body
        after = load(40)
        assert [s for s, _ in after if s != 200] == []
    print(
        f"\noutage: {len(before)} requests before (all 200), {len(during)} during "
        f"(all 503), {len(after)} after (all 200)"
    )


# 24: a worker killed mid-request -----------------------------------------------------------


def test_killing_workers_mid_request_leaves_no_half_written_team_change(agency_manager, northside):
    agents = [
        PartnerAgentFactory(user=UserFactory(username=f"kill-agent-{n}"), organization=northside)
        for n in range(2)
    ]
    cases = [make_case(status="third_party", actor=agency_manager) for _ in range(12)]
    for case in cases:  # the client's consent: the team change goes all the way through
        record_consent(case, northside, actor=agency_manager)
    csrf = secrets.token_hex(16)
    cookie = f"{session_cookie(agency_manager)}; csrftoken={csrf}"
    headers = {"X-CSRFToken": csrf, "Content-Type": "application/x-www-form-urlencoded"}

    def add(case, agent):
        return request(
            port,
            "POST",
            f"/cases/{case.pk}/team/add/",
            cookies=cookie,
            headers=headers,
            body=f"user={agent.user_id}&tabs=notes&tabs=activities",
        )

    with gunicorn(app="tests.security.fault_wsgi", workers=2, FAULT_PAUSE="0.6") as server:
        port = server.port
        killed = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(add, case, agents[i % 2]) for i, case in enumerate(cases)]
            for _ in range(3):
                time.sleep(0.4)
                pids = worker_pids(server)
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
            outcomes = [future.result(timeout=60) for future in futures]
        # The master replaced the killed workers: the site still answers.
        deadline = time.monotonic() + 20
        while request(port, "GET", "/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)

    connection.close()
    broken = [o for o in outcomes if o[0] == "error"]
    done = [o for o in outcomes if o[0] in (200, 302)]
    assert len(killed) == 3
    assert broken, "no request was interrupted: the test proved nothing"
    assert done, "no request succeeded"

    members = CaseTeamMember.objects.filter(role="partner_agent", is_active=True).select_related(
        "user", "case", "organization"
    )
    added = CaseEvent.objects.filter(verb=CaseEvent.Verb.TEAM_ADDED, data__has_key="agent")
    for member in members:
        assert added.filter(case=member.case, data__user=member.user.username).count() == 1
        codenames = set(
            CaseUserObjectPermission.objects.filter(
                user=member.user, content_object=member.case
            ).values_list("permission__codename", flat=True)
        )
        assert {"view_case", "work_case", "view_case_notes"} <= codenames
        assert CasePartner.objects.filter(case=member.case, partner=member.organization).exists()
    for event in added:
        assert members.filter(case=event.case, user__username=event.data["user"]).exists()
    for user_id, case_id in CaseUserObjectPermission.objects.values_list(
        "user_id", "content_object_id"
    ).distinct():
        assert members.filter(user_id=user_id, case_id=case_id).exists()
    for link in CasePartner.objects.all():
        assert members.filter(case=link.case, organization=link.partner).exists()
    assert members.count() == added.count()
    # Every answered request stored its change. A worker killed after its commit but before
    # its answer left may have stored one more, whole: the client only saw the connection drop.
    assert len(done) <= members.count() <= len(done) + len(broken)
    print(
        f"\nkilled {len(killed)} workers: {len(broken)} requests cut off, {len(done)} "
        f"completed, {members.count()} team changes, none half written"
    )
