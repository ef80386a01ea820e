"""SECURITY.md 13: two-step verification (TOTP) for agency staff and admins, enforceable
for partners; a code cannot be reused; the admin goes through the same check."""

import base64
import re

from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SecurityEvent

from .conftest import confirmed_device, current_code


def sign_in(client, username, password, url="/login/", next=None):
    data = {"username": username, "password": password}
    if next:
        data["next"] = next
    return client.post(url, data)


def test_agency_staff_without_a_device_are_sent_to_enrolment_after_the_password(
    client, caseworker, password, mfa_on
):
    response = sign_in(client, "ag", password, next="/cases/")
    assert response["Location"] == "/cases/"
    page = client.get("/cases/")
    assert page.status_code == 302
    assert page["Location"] == "/mfa/setup/?next=%2Fcases%2F"


def test_enrolment_shows_a_server_made_qr_code_and_the_secret_and_confirms_with_a_code(
    client, caseworker, password, mfa_on
):
    sign_in(client, "ag", password)
    page = client.get("/mfa/setup/?next=/cases/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in body
    device = TOTPDevice.objects.get(user=caseworker, confirmed=False)
    secret = re.search(r'id="mfa-secret">([A-Z2-7 ]+)<', body).group(1).replace(" ", "")

    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    response = client.post("/mfa/setup/", {"code": current_code(device), "next": "/cases/"})
    assert response["Location"] == "/cases/"
    assert TOTPDevice.objects.get(user=caseworker).confirmed
    assert client.get("/cases/").status_code == 200
    assert SecurityEvent.objects.filter(kind="mfa_enrolled", user=caseworker).count() == 1


def test_a_wrong_enrolment_code_confirms_nothing(client, caseworker, password, mfa_on):
    sign_in(client, "ag", password)
    client.get("/mfa/setup/")
    response = client.post("/mfa/setup/", {"code": "000000"})
    assert response.status_code == 200
    assert b"That code is not right" in response.content
    assert not TOTPDevice.objects.filter(user=caseworker, confirmed=True).exists()
    assert client.get("/cases/")["Location"].startswith("/mfa/setup/")


def test_a_user_with_a_device_is_asked_for_the_code_and_every_page_waits_for_it(
    client, caseworker, password, mfa_on
):
    device = confirmed_device(caseworker)
    sign_in(client, "ag", password)
    for url in ("/", "/cases/", "/password/", "/portal/", "/admin/", "/no-such-page/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/mfa/verify/?next="), url
    assert client.post("/password/", {"old_password": password})["Location"].startswith(
        "/mfa/verify/"
    )
    response = client.post("/mfa/verify/", {"code": current_code(device), "next": "/cases/"})
    assert response["Location"] == "/cases/"
    assert client.get("/cases/").status_code == 200


def test_enrolment_is_refused_to_a_user_who_already_has_a_device(
    client, caseworker, password, mfa_on
):
    """Otherwise knowing the password would be enough to replace the second factor."""
    confirmed_device(caseworker)
    sign_in(client, "ag", password)
    response = client.get("/mfa/setup/")
    assert response["Location"] == "/mfa/verify/"
    assert client.post("/mfa/setup/", {"code": "123456"})["Location"] == "/mfa/verify/"
    assert TOTPDevice.objects.filter(user=caseworker).count() == 1


def test_a_code_cannot_be_used_twice(client, caseworker, password, mfa_on):
    device = confirmed_device(caseworker)
    code = current_code(device)
    sign_in(client, "ag", password)
    assert client.post("/mfa/verify/", {"code": code})["Location"] == "/"
    client.post("/logout/")
    sign_in(client, "ag", password)
    again = client.post("/mfa/verify/", {"code": code})
    assert again.status_code == 200
    assert b"already used" in again.content
    assert client.get("/cases/")["Location"].startswith("/mfa/verify/")
    assert SecurityEvent.objects.filter(kind="mfa_failed", user=caseworker).count() == 1


def test_the_device_remembers_the_last_time_step_used(caseworker):
    device = confirmed_device(caseworker)
    code = current_code(device)
    assert device.verify_token(code)
    device.refresh_from_db()
    assert device.last_t > 0
    assert not device.verify_token(code)


def test_wrong_codes_are_throttled(client, caseworker, password, mfa_on):
    device = confirmed_device(caseworker)
    sign_in(client, "ag", password)
    for _ in range(3):
        client.post("/mfa/verify/", {"code": "000000"})
    # Even the right code waits for the throttle delay after repeated failures.
    response = client.post("/mfa/verify/", {"code": current_code(device)})
    assert response.status_code == 200
    assert b"Too many wrong codes" in response.content


def test_sign_out_works_while_the_code_is_owed(client, caseworker, password, mfa_on):
    confirmed_device(caseworker)
    sign_in(client, "ag", password)
    assert client.post("/logout/")["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_the_session_id_changes_when_the_code_is_accepted(client, caseworker, password, mfa_on):
    device = confirmed_device(caseworker)
    sign_in(client, "ag", password)
    before = client.session.session_key
    client.post("/mfa/verify/", {"code": current_code(device)})
    assert client.session.session_key != before


def test_an_admin_signing_in_on_the_admin_login_must_give_a_code(
    client, admin_user, password, mfa_on
):
    device = confirmed_device(admin_user)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "adm", "password": password, "next": "/admin/"}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/")["Location"] == "/mfa/verify/?next=%2Fadmin%2F"
    assert client.get("/admin/accounts/securityevent/").status_code == 302
    client.post("/mfa/verify/", {"code": current_code(device), "next": "/admin/"})
    assert client.get("/admin/").status_code == 200


def test_the_admin_site_itself_refuses_a_user_who_owes_a_code(rf, admin_user, mfa_on):
    """Defence in depth: without the middleware the admin would still say no."""
    from django.contrib import admin
    from django.contrib.sessions.backends.base import SessionBase

    request = rf.get("/admin/")
    request.session = SessionBase()
    request.user = admin_user
    admin_user.is_verified = lambda: False
    assert not admin.site.has_permission(request)
    admin_user.is_verified = lambda: True
    assert admin.site.has_permission(request)


def test_partners_sign_in_with_a_password_alone_by_default(client, partner_agent, password, mfa_on):
    sign_in(client, "pa", password, url="/portal/login/")
    assert client.get("/portal/").status_code == 200


def test_partners_can_be_required_to_use_two_step_verification(
    client, partner_agent, password, settings
):
    settings.MFA_REQUIRED_FOR = ["agency", "admin", "partner"]
    sign_in(client, "pa", password, url="/portal/login/")
    response = client.get("/portal/")
    assert response["Location"] == "/mfa/setup/?next=%2Fportal%2F"
    page = client.get(response["Location"])
    assert b"Partner Portal" in page.content  # the portal's own layout


def test_a_partner_who_chose_two_step_verification_is_asked_for_the_code(
    client, partner_agent, password, mfa_on
):
    device = confirmed_device(partner_agent)
    sign_in(client, "pa", password, url="/portal/login/")
    assert client.get("/portal/")["Location"].startswith("/mfa/verify/")
    client.post("/mfa/verify/", {"code": current_code(device)})
    assert client.get("/portal/").status_code == 200


def test_with_the_demo_setting_agency_staff_sign_in_with_a_password_alone(
    client, caseworker, password, settings
):
    settings.MFA_REQUIRED_FOR = []
    sign_in(client, "ag", password)
    assert client.get("/cases/").status_code == 200


def test_htmx_requests_are_told_to_load_the_code_page(client, caseworker, password, mfa_on):
    confirmed_device(caseworker)
    sign_in(client, "ag", password)
    response = client.get("/cases/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/mfa/verify/")


def test_the_mfa_pages_do_not_redirect_off_site(client, caseworker, password, mfa_on):
    device = confirmed_device(caseworker)
    sign_in(client, "ag", password)
    response = client.post(
        "/mfa/verify/", {"code": current_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")
