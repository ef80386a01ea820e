"""SECURITY.md 15, in Chromium: the real pages render and run under the Content Security
Policy (no inline scripts or styles), including the two-step verification pages and the
admin. Every console error (a CSP violation is one) fails the test."""

import pytest
from playwright.sync_api import expect

from tests.browsing import sign_in

from .conftest import confirmed_device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch(page) -> list[str]:
    errors: list[str] = []
    # A failed subresource is caught by the response listener below (the browser's own
    # favicon request, which pages do not control, only appears as a console message).
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and errors.append(f"{page.url}: {m.text}")
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and r.request.resource_type != "document"
            and errors.append(f"{page.url}: {r.status} {r.url}")
        ),
    )
    return errors


def visit(page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status < 400, f"{url}: {response.status}"
    page.wait_for_load_state("networkidle")


def test_agency_pages_and_the_admin_run_under_the_policy(page, live_server, admin_user, password):
    errors = watch(page)
    visit(page, live_server.url + "/login/")
    visit(page, live_server.url + "/portal/login/")
    visit(page, live_server.url + "/portal/password/reset/")
    sign_in(page, live_server.url, "/login/", "adm", password)
    for path in ("/cases/", "/password/", "/admin/", "/admin/accounts/securityevent/"):
        visit(page, live_server.url + path)
    for path in getattr(test_agency_pages_and_the_admin_run_under_the_policy, "extra", ()):
        visit(page, live_server.url + path)
    assert errors == []


def test_portal_pages_run_under_the_policy(page, live_server, partner_agent, password):
    errors = watch(page)
    sign_in(page, live_server.url, "/portal/login/", "pa", password)
    for path in ("/portal/", "/portal/password/"):
        visit(page, live_server.url + path)
    assert errors == []


def test_two_step_pages_run_under_the_policy_and_show_the_qr_code(
    page, live_server, caseworker, partner_agent, password, settings
):
    settings.MFA_REQUIRED_FOR = ["agency", "admin"]
    errors = watch(page)
    sign_in(page, live_server.url, "/login/", "ag", password)
    expect(page).to_have_url(live_server.url + "/mfa/setup/?next=%2F")
    qr = page.get_by_role("img", name="QR code that adds Caseworks to your authenticator app")
    expect(qr).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", qr.element_handle()) > 0
    page.screenshot(path="test-results/mfa-setup.png", full_page=True)
    page.get_by_role("button", name="Sign out ag").click()
    confirmed_device(partner_agent)
    sign_in(page, live_server.url, "/portal/login/", "pa", password)
    expect(page).to_have_url(live_server.url + "/mfa/verify/?next=%2F")
    expect(page.get_by_label("Six-digit code from your authenticator app")).to_be_focused()
    page.screenshot(path="test-results/mfa-verify.png", full_page=True)
    assert errors == []
