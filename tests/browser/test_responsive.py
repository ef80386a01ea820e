"""The Partner Portal and the agency workspace on a 390 x 844 phone screen, on the demo data:
My Cases, the case pages, the Cases List, the Referrals board and the Routing page never
scroll the page sideways, and the Case Name links and the Accept button are on screen, not
covered, and work. Each page leaves a screenshot in test-results/ (a CI artifact).
"""

import io

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from cases.models import Case, CaseTeamMember, Referral
from cases.records import Tab
from demo.data import DEMO_PASSWORD
from tests.browsing import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
State = Referral.State

# Where an element is, and whether a tap on it reaches it (nothing on top of it).
REACHABLE = """
el => {
  el.scrollIntoView({block: "center"});
  const box = el.getBoundingClientRect();
  // A link wrapped over two lines: aim at the middle of its first line.
  const line = el.getClientRects()[0] || box;
  const x = line.left + line.width / 2, y = line.top + line.height / 2;
  const hit = document.elementFromPoint(x, y);
  return {left: box.left, right: box.right, width: box.width, height: box.height,
          tappable: !!hit && (hit === el || el.contains(hit))};
}
"""


@pytest.fixture
def demo(transactional_db):
    """The `make run` demo data, loaded by its own command."""
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def phone(page: Page) -> Page:
    page.set_viewport_size(PHONE)
    return page


def page_width(page: Page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def assert_no_sideways_scroll(page: Page, where: str) -> None:
    width = page_width(page)
    assert width <= PHONE["width"], f"{where}: the page is {width}px wide at {PHONE['width']}px"


def assert_reachable(locator, what: str) -> None:
    expect(locator).to_be_visible()
    where = locator.evaluate(REACHABLE)
    assert where["width"] > 0 and where["height"] > 0, f"{what}: no size: {where}"
    assert where["left"] >= 0 and where["right"] <= PHONE["width"], f"{what}: off screen: {where}"
    assert where["tappable"], f"{what}: covered by another element: {where}"


def label_before(cell) -> str:
    """The column name a card writes before a value (CSS generated content)."""
    content = cell.evaluate("td => getComputedStyle(td, '::before').content")
    return content.strip('"')


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("username", ["partner", "partnermgr"])
def test_my_cases_fits_a_phone_with_every_case_name_on_screen(phone, live_server, demo, username):
    sign_in(phone, live_server.url, "/portal/login/", username, DEMO_PASSWORD)
    expect(phone.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
    assert_no_sideways_scroll(phone, "My Cases")

    links = phone.locator(".cwp-my-cases tbody").get_by_role("link")
    count = links.count()
    assert count >= 10
    for index in range(count):
        assert_reachable(links.nth(index), f"Case Name link {index + 1}")
    # New cases keep their asterisk in the card layout.
    expect(phone.locator(".cwp-row--new .cwp-new-marker").first).to_be_visible()
    # The filters too, with New only ticked.
    phone.get_by_text("New only").click()
    phone.get_by_role("button", name="Apply").click()
    expect(phone.locator(".cwp-my-cases tbody tr").first).to_have_class("cwp-row--new")
    assert_no_sideways_scroll(phone, "My Cases, New only")
    screenshot(phone, f"responsive-my-cases-{username}-390")

    # A Case Name link opens its case.
    first = links.first
    name = first.inner_text()
    first.click()
    expect(phone.get_by_role("heading", level=1, name=name)).to_be_visible()


def test_a_partner_case_page_fits_a_phone_and_the_case_can_be_accepted(phone, live_server, demo):
    member = (
        CaseTeamMember.objects.filter(
            user__username="partner", is_active=True, referral_state=State.PENDING
        )
        .select_related("case")
        .order_by("case__number")
    )
    member = next(m for m in member if set(m.tabs) >= {Tab.ATTACHMENTS, Tab.NOTES})
    case = member.case

    sign_in(phone, live_server.url, "/portal/login/", "partner", DEMO_PASSWORD)
    expect(phone.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
    phone.goto(f"{live_server.url}/portal/cases/{case.pk}/")
    expect(phone.get_by_role("heading", level=1, name=case.name)).to_be_visible()
    assert_no_sideways_scroll(phone, "case page")
    accept = phone.get_by_role("button", name="Accept case")
    assert_reachable(accept, "Accept case")
    assert_reachable(phone.get_by_text("Decline case…"), "Decline case")

    # The decline form, opened, still fits.
    phone.get_by_text("Decline case…").click()
    expect(phone.get_by_role("radio", name="No capacity")).to_be_visible()
    assert_no_sideways_scroll(phone, "case page, decline form open")
    screenshot(phone, "responsive-portal-case-390")

    # Every view tab, with its add form open, fits too.
    tabs = phone.get_by_role("navigation", name="View tabs")
    for label in ("Activities", "Attachments", "Service Requests", "Notes"):
        link = tabs.get_by_role("link", name=label, exact=True)
        assert_reachable(link, f"{label} tab")
        link.click()
        expect(link).to_have_attribute("aria-current", "page")
        add = phone.locator("#case-tabs summary", has_text="Add")
        if add.count():
            add.click()
        assert_no_sideways_scroll(phone, f"{label} tab")
    screenshot(phone, "responsive-portal-case-notes-390")

    # Accept, from the phone.
    phone.goto(f"{live_server.url}/portal/cases/{case.pk}/")
    phone.get_by_role("button", name="Accept case").click()
    expect(phone.get_by_role("heading", name="Your referral: Accepted")).to_be_visible()
    assert_no_sideways_scroll(phone, "accepted case page")
    member.refresh_from_db()
    assert member.referral_state == State.ACCEPTED


def test_the_agency_workspace_fits_a_phone(phone, live_server, demo):
    case = (
        Case.objects.filter(status=Case.Status.THIRD_PARTY, team__role="partner_agent")
        .order_by("number")
        .first()
    )
    sign_in(phone, live_server.url, "/login/", "manager", DEMO_PASSWORD)
    expect(phone.get_by_role("heading", name="Cases", exact=True)).to_be_visible()
    assert_no_sideways_scroll(phone, "Cases List")
    # Each case is a card with its values named, and the sort links stay.
    first = phone.locator(".cw-table--cases tbody tr").first
    assert label_before(first.locator("td").first) == "Case Number: "
    assert_reachable(first.get_by_role("link"), "first Case Name link")
    assert_reachable(phone.get_by_role("link", name="Case Name"), "the Case Name sort link")
    screenshot(phone, "responsive-agency-cases-390")

    for path in ("/cases/referrals/", "/cases/routing/"):
        phone.goto(f"{live_server.url}{path}")
        assert_no_sideways_scroll(phone, path)

    phone.goto(f"{live_server.url}/cases/{case.pk}/")
    expect(phone.get_by_role("heading", level=1, name=case.name)).to_be_visible()
    assert_no_sideways_scroll(phone, "agency case page")
    tabs = phone.get_by_role("navigation", name="Case views")
    for label in ("Partners", "Case Team", "Activities", "Attachments", "Service Requests"):
        link = tabs.get_by_role("link", name=label, exact=True)
        link.click()
        expect(link).to_have_attribute("aria-current", "page")
        assert_no_sideways_scroll(phone, f"agency {label} tab")
        if label == "Case Team":
            role = phone.locator("#team-members tbody td[data-label='Role']").first
            assert label_before(role) == "Role: "
            screenshot(phone, "responsive-agency-team-390")
