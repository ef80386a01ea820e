"""A tab clicked while another tab's panel is still on its way must win: the slower answer
of the earlier request never replaces the panel the user asked for last (hx-sync)."""

import pytest
from playwright.sync_api import expect

from cases.records import Tab
from tests.browsing import sign_in
from tests.factories import make_referral

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def held_requests(page, pattern: str) -> list:
    """Route the htmx requests matching `pattern` into a list, unanswered until released."""
    held = []

    def hold(route):
        if route.request.headers.get("hx-request"):
            held.append(route)
        else:
            route.continue_()

    page.route(pattern, hold)
    return held


def wait_for(page, held: list, count: int) -> None:
    for _ in range(200):
        if len(held) >= count:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{count} requests expected, {len(held)} held")


def release(route) -> None:
    try:
        route.continue_()
    except Exception:  # htmx aborted the request: nothing left to answer
        return


def test_the_last_tab_clicked_wins_over_the_first_tab_still_loading(
    page, live_server, partner_agent, password
):
    case, _member = make_referral(
        agent_user=partner_agent, name="Race Household", tabs=[Tab.ACTIVITIES, Tab.NOTES]
    )
    sign_in(page, live_server.url, "/portal/login/", "pa", password)
    expect(page.get_by_role("heading", name="My Cases")).to_be_visible()
    held = held_requests(page, f"**/portal/cases/{case.pk}/*/")

    page.goto(f"{live_server.url}/portal/cases/{case.pk}/")
    wait_for(page, held, 1)  # the first tab (Activities), loading by itself
    page.get_by_role("link", name="Notes", exact=True).click()
    wait_for(page, held, 2)  # the Notes tab the user chose
    first, chosen = held
    assert first.request.url.endswith("/activities/") and chosen.request.url.endswith("/notes/")

    release(first)  # the earlier answer arrives first ...
    page.wait_for_timeout(300)
    release(chosen)  # ... and the chosen one after it
    expect(page.locator(".cwp-tabs__link.is-active")).to_have_text("Notes")
    expect(page).to_have_url(f"{live_server.url}/portal/cases/{case.pk}/notes/")
