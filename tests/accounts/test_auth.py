"""Sign-in, sign-out, password change and lockout, through the real forms."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone


def sign_in(client, url, username, password, next=None, **headers):
    data = {"username": username, "password": password}
    if next is not None:
        data["next"] = next
    return client.post(url, data, **headers)


def test_agency_staff_sign_in_and_land_on_the_cases_list(client, caseworker, password):
    response = sign_in(client, "/login/", "ag", password)
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"] == "/cases/"
    page = client.get("/cases/")
    assert b"Cases List" in page.content


def test_partner_agents_sign_in_to_the_portal_and_land_on_my_cases(client, partner_agent, password):
    response = sign_in(client, "/portal/login/", "pa", password)
    assert client.get(response["Location"])["Location"] == "/portal/"
    page = client.get("/portal/")
    assert b"Partner Portal" in page.content
    assert b"My Cases" in page.content


def test_a_partner_signing_in_on_the_agency_form_still_lands_in_the_portal(
    client, partner_agent, password
):
    response = sign_in(client, "/login/", "pa", password)
    assert client.get(response["Location"])["Location"] == "/portal/"


def test_wrong_password_shows_one_message_whether_or_not_the_user_exists(client, caseworker):
    wrong = sign_in(client, "/login/", "ag", "not-the-password")
    missing = sign_in(client, "/login/", "no-such-user", "not-the-password")
    assert wrong.status_code == missing.status_code == 200
    assert b"Please enter a correct username and password" in wrong.content
    assert b"Please enter a correct username and password" in missing.content
    assert "_auth_user_id" not in client.session


def test_a_same_site_next_is_honoured_after_sign_in(client, caseworker, password):
    response = sign_in(client, "/login/?next=/cases/", "ag", password, next="/cases/")
    assert response["Location"] == "/cases/"


@pytest.mark.parametrize(
    "payload", ["https://evil.example/", "//evil.example/", "/\\evil.example", "https:evil.example"]
)
def test_an_off_site_next_is_ignored(client, caseworker, password, payload):
    response = sign_in(client, "/login/", "ag", password, next=payload)
    assert response["Location"] == "/"


def test_sign_out_is_post_only_and_ends_the_session(client, caseworker):
    client.force_login(caseworker)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response["Location"] == "/login/"
    assert client.get("/cases/").status_code == 302


def test_portal_sign_out_returns_to_the_portal_sign_in(client, partner_agent):
    client.force_login(partner_agent)
    assert client.post("/portal/logout/")["Location"] == "/portal/login/"


def test_password_change_keeps_this_session_and_sets_the_new_password(client, caseworker, password):
    client.force_login(caseworker)
    response = client.post(
        "/password/",
        {
            "old_password": password,
            "new_password1": "a-much-longer-new-secret-41",
            "new_password2": "a-much-longer-new-secret-41",
        },
    )
    assert response["Location"] == "/password/done/"
    caseworker.refresh_from_db()
    assert caseworker.check_password("a-much-longer-new-secret-41")
    assert client.get("/cases/").status_code == 200


def test_password_change_shows_errors_next_to_fields(client, caseworker):
    client.force_login(caseworker)
    response = client.post(
        "/password/", {"old_password": "wrong", "new_password1": "a", "new_password2": "b"}
    )
    assert response.status_code == 200
    assert b"usa-form-group--error" in response.content
    assert b"Your old password was entered incorrectly" in response.content


def test_portal_password_reset_sends_a_link_without_saying_whether_the_account_exists(
    client, partner_agent, mailoutbox
):
    known = client.post("/portal/password/reset/", {"email": partner_agent.email})
    unknown = client.post("/portal/password/reset/", {"email": "nobody@example.org"})
    assert known["Location"] == unknown["Location"] == "/portal/password/reset/sent/"
    assert len(mailoutbox) == 1
    assert "/portal/password/reset/" in mailoutbox[0].body


def test_repeated_failures_lock_the_account_from_that_address(client, caseworker, password):
    for _ in range(5):
        sign_in(client, "/login/", "ag", "wrong-password")
    locked = sign_in(client, "/login/", "ag", password)
    assert locked.status_code == 429
    assert b"Too many sign-in attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_the_lockout_does_not_reach_the_same_user_from_another_address(
    client, caseworker, password
):
    for _ in range(5):
        sign_in(client, "/login/", "ag", "wrong-password", REMOTE_ADDR="203.0.113.9")
    response = sign_in(client, "/login/", "ag", password, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302


def test_the_lockout_is_lifted_after_the_cool_off(client, caseworker, password):
    for _ in range(5):
        sign_in(client, "/login/", "ag", "wrong-password")
    assert sign_in(client, "/login/", "ag", password).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert sign_in(client, "/login/", "ag", password).status_code == 302
