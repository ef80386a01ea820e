"""Helpers of the security suite (SECURITY.md): the denial check every denial uses, and
two-step verification fixtures."""

import contextlib
import time

import pytest
from django.apps import apps
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SecurityEvent

# Tables a denied request may write to: the audit trails themselves, sessions, sign-in
# bookkeeping and job queues. Everything else must be byte for byte as it was.
NOT_STATE = {
    "accounts.securityevent",
    "cases.caseevent",
    "accounts.usersession",
    "sessions.session",
    "axes.accessattempt",
    "axes.accessfailurelog",
    "axes.accesslog",
    "axes.accessattemptexpiration",
    "admin.logentry",
    "otp_totp.totpdevice",
}


def database_state() -> dict[str, list[tuple]]:
    """Every row of every other table, ordered by primary key."""
    state = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in NOT_STATE or model._meta.proxy or not model._meta.managed:
            continue
        state[label] = list(model._base_manager.order_by("pk").values_list())
    return state


def audit_counts() -> tuple[int, int]:
    from cases.models import CaseEvent

    return SecurityEvent.objects.count(), CaseEvent.objects.count()


@pytest.fixture
def assert_denied_and_audited(db):
    """Context manager: the block changes no application data and writes exactly one audit
    or security event (SecurityEvent or CaseEvent). Yields a list that receives the new
    security events, for assertions on their kind.

        with assert_denied_and_audited() as events:
            response = client.get(url)
        assert response.status_code == 404
        assert events[0].kind == "access_denied"
    """

    @contextlib.contextmanager
    def check(events: int = 1):
        before = database_state()
        security_before, case_before = audit_counts()
        last_pk = SecurityEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        written: list[SecurityEvent] = []
        yield written
        written.extend(SecurityEvent.objects.filter(pk__gt=last_pk).order_by("pk"))
        after = database_state()
        changed = [label for label in before if before[label] != after.get(label)]
        assert changed == [], f"a denied request changed {changed}"
        security_after, case_after = audit_counts()
        new = (security_after - security_before) + (case_after - case_before)
        assert new == events, f"expected {events} audit event(s), found {new}: {written}"

    return check


def current_code(device: TOTPDevice, *, offset: int = 0) -> str:
    """The code the user's authenticator app shows now (or `offset` steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def mfa_on(settings):
    """Production's rule: agency staff and admins must use two-step verification."""
    settings.MFA_REQUIRED_FOR = ["agency", "admin"]
    return settings


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
