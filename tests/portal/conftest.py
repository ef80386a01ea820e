"""Helpers of the Partner Portal tests: private storage in a temporary directory, referrals
with chosen tabs, uploads, and the page query counter."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import services
from cases.records import Tab

# The denial check of the security suite (no data changed, one audit event written).
from tests.security.conftest import assert_denied_and_audited  # noqa: F401

from ..factories import make_referral

ALL_TABS = [tab.value for tab in Tab]
# Statements that only delimit a transaction: the test's own transaction turns each
# service's atomic block into SAVEPOINT / RELEASE, and SQLite logs BEGIN where PostgreSQL
# does not. They are not queries a page asks for.
TRANSACTION_CONTROL = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|BEGIN|COMMIT)\b", re.I)
CSRF_TOKEN = re.compile(rb'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+"')
NONCE = re.compile(rb'nonce="[^"]+"')


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Every case built for a test has a new owner; a production-strength hash for each
    would make these tests crawl."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """Attachments go to a temporary private directory, never into the project."""
    storages = {**settings.STORAGES}
    storages["default"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "private", "base_url": None},
    }
    settings.STORAGES = storages
    return tmp_path / "private"


def refer(agent_user, *, tabs=None, case=None, accepted=False, **case_fields):
    """A Third-Party case referred to `agent_user` with `tabs` (all four by default);
    `accepted`: the agent accepted it, so that they can record work."""
    return make_referral(
        agent_user=agent_user,
        case=case,
        tabs=ALL_TABS if tabs is None else tabs,
        accepted=accepted,
        **case_fields,
    )


def upload(name="report.txt", content=b"Lease and rent ledger, page 1.", content_type=None):
    return SimpleUploadedFile(name, content, content_type=content_type or "text/plain")


def add_records(case, *, actor, shared=True, count=1, prefix="Record"):
    """`count` records of every kind on the case, written by an agency user."""
    for n in range(count):
        label = f"{prefix} {n}"
        services.record_add(
            actor=actor, case=case, kind="notes", body=f"{label} note", shared_with_partners=shared
        )
        services.record_add(
            actor=actor,
            case=case,
            kind="activities",
            subject=f"{label} activity",
            shared_with_partners=shared,
        )
        services.record_add(
            actor=actor,
            case=case,
            kind="servicerequests",
            title=f"{label} service request",
            shared_with_partners=shared,
        )
        services.attachment_add(
            actor=actor,
            case=case,
            upload=upload(f"{label}.txt".replace(" ", "-")),
            description=f"{label} attachment",
            shared_with_partners=shared,
        )


def page_statements(client, url, *, headers=None) -> list[str]:
    """The SQL statements one GET of `url` runs (transaction control left out)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.status_code
    return [q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]


def normalized(body: bytes) -> bytes:
    """A page with its per-response tokens (CSRF, CSP nonce) blanked out."""
    return NONCE.sub(b'nonce=""', CSRF_TOKEN.sub(rb'\1"', body))
