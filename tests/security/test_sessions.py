"""SECURITY.md 5 and 14: session id changes at sign-in; sign-out, a password change and a
deactivation end the old sessions; idle and absolute timeouts."""

import time

from django.test import Client

from accounts.models import SecurityEvent, UserSession
from accounts.security import SESSION_SEEN_AT, SESSION_SIGNED_IN_AT


def sign_in(client, username, password, url="/login/"):
    return client.post(url, {"username": username, "password": password})


def test_the_session_id_changes_at_sign_in(client, caseworker, password):
    client.get("/login/")
    client.cookies["sessionid"] = "attacker-chosen-session-key-123456"
    sign_in(client, "ag", password)
    assert client.cookies["sessionid"].value != "attacker-chosen-session-key-123456"
    assert UserSession.objects.filter(session_key="attacker-chosen-session-key-123456").count() == 0


def test_sign_out_ends_the_session_on_the_server_too(client, caseworker, password):
    sign_in(client, "ag", password)
    stolen_cookie = client.cookies["sessionid"].value
    client.post("/logout/")
    replay = Client()
    replay.cookies["sessionid"] = stolen_cookie
    assert replay.get("/cases/").status_code == 302
    assert not UserSession.objects.filter(session_key=stolen_cookie).exists()


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(caseworker, password):
    here, elsewhere = Client(), Client()
    sign_in(here, "ag", password)
    sign_in(elsewhere, "ag", password)
    assert elsewhere.get("/cases/").status_code == 200
    new = "a-much-longer-new-secret-41"
    here.post(
        "/password/",
        {"old_password": password, "new_password1": new, "new_password2": new},
    )
    assert here.get("/cases/").status_code == 200
    assert elsewhere.get("/cases/").status_code == 302
    assert UserSession.objects.filter(user_id=caseworker.pk).count() == 1
    assert SecurityEvent.objects.filter(kind="password_changed", user=caseworker).count() == 1


def test_a_portal_password_change_ends_the_other_sessions(partner_agent, password):
    here, elsewhere = Client(), Client()
    sign_in(here, "pa", password, "/portal/login/")
    sign_in(elsewhere, "pa", password, "/portal/login/")
    new = "a-much-longer-new-secret-41"
    here.post(
        "/portal/password/",
        {"old_password": password, "new_password1": new, "new_password2": new},
    )
    assert here.get("/portal/").status_code == 200
    assert elsewhere.get("/portal/").status_code == 302


def test_deactivating_a_user_deletes_all_their_sessions(partner_agent, password):
    clients = [Client(), Client()]
    for client in clients:
        sign_in(client, "pa", password, "/portal/login/")
    assert UserSession.objects.filter(user_id=partner_agent.pk).count() == 2
    partner_agent.is_active = False
    partner_agent.save()
    assert UserSession.objects.filter(user_id=partner_agent.pk).count() == 0
    for client in clients:
        assert client.get("/portal/")["Location"].startswith("/portal/login/")
    event = SecurityEvent.objects.get(kind="user_deactivated")
    assert event.user == partner_agent
    assert event.data == {"sessions_ended": 2}


def test_deactivating_through_the_admin_ends_the_sessions(client, admin_user, partner_agent):
    victim = Client()
    victim.force_login(partner_agent)
    client.force_login(admin_user)
    page = client.get(f"/admin/auth/user/{partner_agent.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        is_active="",
        groups=[g.pk for g in partner_agent.groups.all()],
        user_permissions=[],
        last_login_0="",
        last_login_1="",
        date_joined_0="2026-01-01",
        date_joined_1="00:00:00",
    )
    data.pop("is_active")
    response = client.post(f"/admin/auth/user/{partner_agent.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    partner_agent.refresh_from_db()
    assert not partner_agent.is_active
    assert victim.get("/portal/").status_code == 302


def test_saving_an_active_user_keeps_their_sessions(client, caseworker):
    client.force_login(caseworker)
    caseworker.first_name = "Renamed"
    caseworker.save()
    assert client.get("/cases/").status_code == 200


def test_an_idle_session_ends_after_the_idle_timeout(client, caseworker, settings):
    client.force_login(caseworker)
    session = client.session
    session[SESSION_SEEN_AT] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT - 5
    session.save()
    response = client.get("/cases/")
    assert response["Location"] == "/login/?next=%2Fcases%2F"
    assert client.get("/cases/").status_code == 302
    assert SecurityEvent.objects.get(kind="session_expired").data == {"reason": "idle"}


def test_an_idle_portal_session_goes_back_to_the_portal_sign_in(client, partner_agent, settings):
    client.force_login(partner_agent)
    session = client.session
    session[SESSION_SEEN_AT] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT - 5
    session.save()
    assert client.get("/portal/")["Location"] == "/portal/login/?next=%2Fportal%2F"


def test_activity_keeps_a_session_alive(client, caseworker, settings):
    client.force_login(caseworker)
    session = client.session
    session[SESSION_SEEN_AT] = int(time.time()) - settings.SESSION_IDLE_TIMEOUT + 120
    session.save()
    assert client.get("/cases/").status_code == 200
    assert client.session[SESSION_SEEN_AT] >= int(time.time()) - 5


def test_a_session_ends_after_the_absolute_timeout_however_active(client, caseworker, settings):
    client.force_login(caseworker)
    session = client.session
    session[SESSION_SIGNED_IN_AT] = int(time.time()) - settings.SESSION_COOKIE_AGE - 5
    session.save()
    assert client.get("/cases/")["Location"] == "/login/?next=%2Fcases%2F"
    assert SecurityEvent.objects.get(kind="session_expired").data == {"reason": "absolute"}


def test_ordinary_requests_do_not_rewrite_the_session(client, caseworker):
    client.force_login(caseworker)
    key = client.session.session_key
    before = UserSession.objects.get(session_key=key).expire_date
    for _ in range(3):
        client.get("/cases/")
    assert UserSession.objects.get(session_key=key).expire_date == before
