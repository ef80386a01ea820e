"""The partner agent's journey with the keyboard alone, on the demo data: sign in to the
Partner Portal, skip to the main content, filter My Cases to the New ones, open one, Accept
it, open its Notes tab and add a note.

Only `page.keyboard` moves and acts (Tab, Shift+Tab, Enter, Space, typing). After every key
the test asserts where focus is, that the focused element shows a focus ring and is in the
window, and that Tab moved forward in the page (Shift+Tab backward): no trap, no jump.
"""

import contextlib
import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from cases.models import CaseTeamMember, Note, Referral
from demo.data import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

State = Referral.State

# What the focused element is, whether it shows focus, and whether it comes after (Tab) or
# before (Shift+Tab) the element focused at the previous call, in document order.
FOCUSED = """
() => {
  const el = document.activeElement;
  const prev = window.__keyboardPrevious;
  window.__keyboardPrevious = el;
  if (!el || el === document.body) {
    return {tag: "body"};
  }
  // USWDS hides checkbox and radio inputs and draws them, and their focus ring, on the label.
  const drawn = el.matches(".usa-checkbox__input, .usa-radio__input") && el.labels[0];
  const style = drawn ? getComputedStyle(drawn, "::before") : getComputedStyle(el);
  const box = (drawn || el).getBoundingClientRect();
  const labelled = el.labels && el.labels[0] && el.labels[0].innerText;
  const label = el.getAttribute("aria-label") || labelled || el.innerText || el.value || "";
  let order = "same";
  if (prev && prev !== el && prev.isConnected) {
    const after = prev.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
    order = after ? "forward" : "backward";
  }
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    type: el.type || "",
    href: el.getAttribute("href") || "",
    name: label.replace(/\\s+/g, " ").trim(),
    order: order,
    ring: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2)
      || style.boxShadow !== "none",
    focusVisible: el.matches(":focus-visible"),
    inWindow: box.width > 0 && box.height > 0 && box.bottom > 0 && box.top < innerHeight
      && box.right > 0 && box.left < innerWidth,
    newRow: !!(el.closest("tr") && el.closest("tr").classList.contains("cwp-row--new")),
    checked: !!el.checked,
  };
}
"""


@pytest.fixture
def demo(transactional_db):
    """The `make run` demo data, loaded by its own command."""
    call_command("load_demo", stdout=io.StringIO())


# The focused element is inside the window (the skip link slides in over 0.2 s).
SETTLED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return true;
  const box = el.getBoundingClientRect();
  return box.top >= 0 && box.bottom <= innerHeight;
}
"""


def focused(page: Page) -> dict:
    return page.evaluate(FOCUSED)


def press(page: Page, key: str) -> dict:
    """Press a key that keeps the page; return the newly focused element, checked."""
    page.keyboard.press(key)
    # Not settled in time: the assertions below report what was focused, and where.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(SETTLED, timeout=2_000)
    element = focused(page)
    assert element["tag"] != "body", f"{key}: focus was lost to <body>"
    assert element["focusVisible"] and element["ring"], f"{key}: no visible focus on {element}"
    assert element["inWindow"], f"{key}: focused element out of the window: {element}"
    expected = "backward" if key == "Shift+Tab" else "forward"
    if key in ("Tab", "Shift+Tab"):
        assert element["order"] == expected, f"{key} went {element['order']}: {element}"
    return element


def press_and_load(page: Page, key: str) -> None:
    """Press a key that submits a form or follows a link to a new page."""
    with page.expect_navigation():
        page.keyboard.press(key)
    page.wait_for_load_state("networkidle")
    focused(page)  # forget the previous page's element


def tab_until(page: Page, found, *, what: str, limit: int = 40) -> dict:
    """Tab forward, checking each stop, until `found(element)`; fail after `limit` stops."""
    stops = []
    for _ in range(limit):
        element = press(page, "Tab")
        stops.append(element["name"] or element["tag"])
        if found(element):
            return element
    pytest.fail(f"{what} not reached in {limit} Tab presses; stops: {stops}")


def skip_to_main_content(page: Page) -> None:
    """The first Tab of a page lands on the skip link, and Enter moves focus to <main>."""
    skip = press(page, "Tab")
    assert skip["name"] == "Skip to main content"
    assert skip["href"] == "#main-content"
    page.keyboard.press("Enter")
    expect(page.locator("main#main-content")).to_be_focused()
    focused(page)


def test_a_partner_agent_accepts_a_new_case_and_adds_a_note_with_the_keyboard_only(
    page, live_server, demo
):
    # Sign-in: focus starts in User name; Tab goes to Password, then to Sign in.
    page.goto(f"{live_server.url}/portal/login/")
    element = focused(page)
    assert (element["tag"], element["name"]) == ("input", "User name")
    page.keyboard.type("partner")
    assert press(page, "Tab")["name"] == "Password"
    page.keyboard.type(DEMO_PASSWORD)
    assert press(page, "Tab")["name"] == "Sign in"
    # Shift+Tab goes back to the password, still filled in.
    assert press(page, "Shift+Tab")["name"] == "Password"
    assert press(page, "Tab")["name"] == "Sign in"
    press_and_load(page, "Enter")
    expect(page.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()

    # My Cases: the skip link jumps over the navigation to the filters.
    skip_to_main_content(page)
    element = press(page, "Tab")
    assert (element["tag"], element["name"]) == ("input", "Search")
    # "New only" with Space, then Apply with Enter.
    element = tab_until(page, lambda e: e["name"] == "New only", what="the New only checkbox")
    assert element["type"] == "checkbox" and not element["checked"]
    page.keyboard.press("Space")
    assert focused(page)["checked"]
    assert press(page, "Tab")["name"] == "Apply"
    press_and_load(page, "Enter")
    assert "new=on" in page.url

    # The first Case Name link is a New case (asterisk row); Enter opens it.
    skip_to_main_content(page)
    link = tab_until(
        page, lambda e: e["href"].startswith("/portal/cases/"), what="a Case Name link"
    )
    assert link["newRow"], f"the first case reached is not a New case: {link}"
    member = CaseTeamMember.objects.select_related("case").get(
        user__username="partner", case__pk=int(link["href"].split("/")[3])
    )
    case = member.case
    assert link["name"] == case.name
    assert member.referral_state == State.PENDING and member.seen_at is None
    press_and_load(page, "Enter")
    expect(page.get_by_role("heading", level=1, name=case.name)).to_be_visible()

    # Case page: past the breadcrumb to Accept case; Shift+Tab goes back; Enter accepts.
    skip_to_main_content(page)
    assert press(page, "Tab")["name"] == "My Cases"
    assert press(page, "Tab")["name"] == "Accept case"
    assert press(page, "Shift+Tab")["name"] == "My Cases"
    assert press(page, "Tab")["name"] == "Accept case"
    press_and_load(page, "Enter")
    expect(page.locator(".cw-messages")).to_contain_text(f"You accepted {case.number}.")
    expect(page.get_by_role("heading", name="Your referral: Accepted")).to_be_visible()
    member.refresh_from_db()
    assert member.referral_state == State.ACCEPTED

    # The Notes tab: htmx swaps the panel and focus stays on the tab.
    skip_to_main_content(page)
    tab_until(page, lambda e: e["id"] == "tab-notes", what="the Notes tab")
    page.keyboard.press("Enter")
    notes_tab = page.locator("#tab-notes")
    expect(notes_tab).to_have_attribute("aria-current", "page")
    expect(notes_tab).to_be_focused()
    focused(page)

    # Add note (a <summary>, opened with Enter) puts focus in the Note field.
    element = tab_until(page, lambda e: e["name"] == "Add note", what="Add note")
    assert element["tag"] == "summary"
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Note")).to_be_focused()
    element = focused(page)
    assert element["focusVisible"] and element["ring"]
    # Saved empty: the error is shown and focus comes back to the field.
    assert press(page, "Tab")["name"] == "Save note"
    page.keyboard.press("Enter")
    expect(page.locator("#case-tabs .usa-error-message")).to_be_visible()
    expect(page.get_by_role("textbox", name="Note")).to_be_focused()
    assert focused(page)["ring"]
    body = "Called the applicant from the keyboard; hearing set for Tuesday."
    page.keyboard.type(body)
    assert press(page, "Tab")["name"] == "Save note"
    page.keyboard.press("Enter")

    # Saved: the notice takes focus, so it is read out and the next Tab goes on from there.
    notice = page.locator("#case-tabs [role=status]")
    expect(notice).to_contain_text("Note added. The agency sees it now.")
    expect(notice).to_be_focused()
    element = focused(page)
    assert element["ring"], f"the notice shows no focus: {element}"
    expect(page.locator(".cwp-notes")).to_contain_text(body)
    assert Note.objects.filter(case=case, body=body, by_partner=True).exists()
    assert re.search(r"Add note", press(page, "Tab")["name"])
