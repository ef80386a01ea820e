"""SECURITY.md 15 and 18: security headers, cookie flags, unknown hosts, error pages with a
request id (no traceback, SQL or settings), and the 503 page of a database outage."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from .urls import SECRET_IN_EXCEPTION

ROOT = Path(__file__).resolve().parents[2]


def test_pages_carry_the_browser_protections(client, caseworker):
    client.force_login(caseworker)
    response = client.get("/cases/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("url", ["/login/", "/portal/login/", "/cases/", "/portal/"])
def test_the_content_security_policy_forbids_inline_scripts_and_framing(
    client, caseworker, partner_agent, url
):
    if url == "/cases/":
        client.force_login(caseworker)
    elif url == "/portal/":
        client.force_login(partner_agent)
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict(
        [*part.strip().split(" ", 1), ""][:2] for part in policy.split(";") if part.strip()
    )
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["script-src"].startswith("'self'")
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"


def test_no_template_contains_an_inline_script_or_style_attribute():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for line_number, line in enumerate(text.splitlines(), 1):
            stripped = line.replace("<script src=", "")
            if "<script" in stripped or " style=" in line or "<style" in line:
                offenders.append(f"{template.relative_to(ROOT)}:{line_number}")
            if " on" in line and any(f" on{ev}=" in line for ev in ("click", "load", "submit")):
                offenders.append(f"{template.relative_to(ROOT)}:{line_number}")
    assert offenders == []


def test_signed_in_pages_are_not_cached(client, partner_agent):
    client.force_login(partner_agent)
    response = client.get("/portal/")
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_anonymous_sign_in_pages_still_carry_the_csrf_cookie_flags(client):
    response = client.get("/login/")
    cookie = response.cookies["csrftoken"]
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"]


def test_an_unknown_host_gets_400(client):
    response = client.get("/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert b"evil.example" not in response.content


def test_every_response_carries_a_request_id(client):
    response = client.get("/login/")
    assert len(response["X-Request-ID"]) == 32
    assert client.get("/login/")["X-Request-ID"] != response["X-Request-ID"]


def test_a_well_formed_request_id_from_the_proxy_is_kept_and_a_malformed_one_replaced(client):
    assert client.get("/login/", HTTP_X_REQUEST_ID="lb-4f1c2a9e")["X-Request-ID"] == "lb-4f1c2a9e"
    forged = client.get("/login/", HTTP_X_REQUEST_ID="x\r\nSet-Cookie: a=b")
    assert forged["X-Request-ID"] != "x\r\nSet-Cookie: a=b"
    assert "\n" not in forged["X-Request-ID"]


@pytest.mark.urls("tests.security.urls")
def test_an_exception_shows_a_generic_page_with_the_request_id_and_nothing_internal(caplog):
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    request_id = response["X-Request-ID"]
    assert "Something went wrong" in body
    assert request_id in body
    for leak in (SECRET_IN_EXCEPTION, "hunter2", "Traceback", "RuntimeError", "SECRET_KEY"):
        assert leak not in body
    # The traceback goes to the log, which carries the same request id.
    errors = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert errors and errors[0].request_id == request_id
    assert SECRET_IN_EXCEPTION in str(errors[0].exc_info[1])


@pytest.mark.urls("tests.security.urls")
@pytest.mark.parametrize("url", ["/database-down/", "/connection-closed/"])
def test_an_unreachable_database_gets_a_friendly_503(url):
    client = Client(raise_request_exception=False)
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.content.decode()
    assert "temporarily unavailable" in body
    assert response["X-Request-ID"] in body
    assert "could not connect" not in body and "Traceback" not in body


def test_a_database_failure_before_the_view_also_gets_the_503(client, caseworker, monkeypatch):
    """Raised in a middleware (loading the session), where process_exception cannot see it."""
    from django.db import OperationalError

    from accounts.sessions import SessionStore

    client.force_login(caseworker)
    client.raise_request_exception = False

    def fail(self):
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(SessionStore, "load", fail)
    response = client.get("/cases/")
    assert response.status_code == 503
    assert b"shutting down" not in response.content


def production_setting(expression: str, **overrides) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "BEHIND_TLS", "MFA_", "SESSION_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="casesite.settings",  # not the suite's own
        SECRET_KEY="k3y-" + "x7Q!p9" * 10,
        DEBUG="0",
        ALLOWED_HOSTS="caseworks.example.gov",
        DATABASE_URL="sqlite:///:memory:",
        **overrides,
    )
    code = f"from django.conf import settings as s; print({expression})"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_partners_can_be_added_to_the_mfa_roles_by_environment():
    assert production_setting("s.MFA_REQUIRED_FOR", MFA_REQUIRED_FOR="agency,admin,partner") == (
        "['agency', 'admin', 'partner']"
    )


def test_production_settings_use_secure_cookies_tls_and_mfa():
    values = production_setting(
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.CSRF_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.MFA_REQUIRED_FOR, "
        "s.SESSION_IDLE_TIMEOUT, s.SESSION_COOKIE_AGE, s.DEBUG"
    )
    assert values == (
        "True True True True Lax True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') "
        "['agency', 'admin'] 1800 28800 False"
    )


def test_an_unknown_mfa_role_stops_the_start():
    with pytest.raises(subprocess.CalledProcessError) as failure:
        production_setting("s.DEBUG", MFA_REQUIRED_FOR="agency,everyone")
    assert "MFA_REQUIRED_FOR" in failure.value.stderr
