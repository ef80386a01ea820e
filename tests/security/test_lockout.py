"""SECURITY.md 11: repeated wrong passwords lock (user name, address) for a cool-off, one
address is throttled across user names, nobody can lock a user out from elsewhere, and no
answer tells whether a user exists."""

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

ATTACKER = "203.0.113.66"
USER_ADDRESS = "198.51.100.7"


def sign_in(client, username, password, ip=ATTACKER, url="/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def normalized(response) -> bytes:
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", response.content)
    body = re.sub(rb'"X-CSRFToken": "[^"]+"', b"", body)
    return re.sub(rb'nonce="[^"]+"', b"", body)


@pytest.mark.parametrize("url", ["/login/", "/portal/login/", "/admin/login/"])
def test_every_sign_in_form_locks_after_the_failure_limit(client, caseworker, password, url):
    for _ in range(4):
        assert sign_in(client, "ag", "wrong", url=url).status_code == 200
    assert sign_in(client, "ag", "wrong", url=url).status_code == 429
    assert sign_in(client, "ag", password, url=url).status_code == 429


def test_one_address_trying_many_user_names_is_throttled(client, caseworker, password, settings):
    for n in range(settings.AXES_IP_FAILURE_LIMIT - 1):
        assert sign_in(client, f"guess{n}", "wrong").status_code == 200
    # Below the address limit, a real user behind the same address still signs in, and
    # that success does not reset the address's count.
    assert sign_in(client, "ag", password).status_code == 302
    client.post("/logout/")
    assert sign_in(client, "guess-last", "wrong").status_code == 429
    assert sign_in(client, "ag", password).status_code == 429
    assert sign_in(client, "ag", password, ip=USER_ADDRESS).status_code == 302


def test_an_attacker_cannot_lock_a_user_out_from_elsewhere(client, caseworker, password):
    for _ in range(20):
        sign_in(client, "ag", "wrong")
    assert sign_in(client, "ag", password).status_code == 429
    assert sign_in(client, "ag", password, ip=USER_ADDRESS).status_code == 302


def test_the_lockout_lifts_after_the_cool_off_not_forever(client, caseworker, password, settings):
    for _ in range(settings.AXES_IP_FAILURE_LIMIT):
        sign_in(client, f"guess{_}", "wrong")
    assert sign_in(client, "ag", password).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=5)
    )
    assert sign_in(client, "ag", password).status_code == 302


def test_locked_and_wrong_answers_are_the_same_for_real_and_unknown_users(client, caseworker):
    first_real = sign_in(client, "ag", "wrong")
    first_unknown = sign_in(client, "nobody-here", "wrong", ip="203.0.113.67")
    assert first_real.status_code == first_unknown.status_code == 200
    assert normalized(first_real).replace(b'value="ag"', b"") == normalized(first_unknown).replace(
        b'value="nobody-here"', b""
    )
    for _ in range(3):
        sign_in(client, "ag", "wrong")
        sign_in(client, "nobody-here", "wrong", ip="203.0.113.67")
    locked_real = sign_in(client, "ag", "wrong")
    locked_unknown = sign_in(client, "nobody-here", "wrong", ip="203.0.113.67")
    assert locked_real.status_code == locked_unknown.status_code == 429
    assert normalized(locked_real) == normalized(locked_unknown)
