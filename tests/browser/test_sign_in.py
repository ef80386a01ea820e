"""Signing in through the real forms, in Chromium."""

import pytest
from playwright.sync_api import expect

from tests.browsing import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agency_staff_sign_in_and_see_the_cases_list(page, live_server, caseworker, password):
    sign_in(page, live_server.url, "/login/", "ag", password)
    expect(page).to_have_url(live_server.url + "/cases/")
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
    expect(page.get_by_role("link", name="Skip to main content")).to_be_attached()


def test_partner_agents_sign_in_to_the_portal_and_see_my_cases(
    page, live_server, partner_agent, password
):
    sign_in(page, live_server.url, "/portal/login/", "pa", password)
    expect(page).to_have_url(live_server.url + "/portal/")
    expect(page.get_by_role("heading", name="My Cases")).to_be_visible()
    expect(page.locator("header")).to_contain_text("Partner Portal")


def test_a_wrong_password_keeps_the_visitor_on_the_sign_in_page(page, live_server, caseworker):
    sign_in(page, live_server.url, "/login/", "ag", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page).to_have_url(live_server.url + "/login/")


def test_pages_load_without_content_security_policy_errors(page, live_server, caseworker, password):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_server.url, "/login/", "ag", password)
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object"
    assert errors == []
