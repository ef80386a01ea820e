"""Take the README screenshots from a running Caseworks with the demo data loaded.

Usage: python scripts/screenshots.py [--wait SECONDS] [BASE_URL]   (default http://127.0.0.1:8000)
`make screenshots` runs it against a fresh demo database. Drives the system Chromium through
Playwright; writes PNG files into docs/screenshots/.

It opens one of the partner agent's New cases, so on a database that is not fresh that
case has lost its asterisk in later runs: the My Cases shots are taken before it.
"""

import argparse
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "caseworks-demo"  # noqa: S105  (the documented demo password)
# The demo case with two partner organizations (load_demo uses a fixed seed), so that the
# Partners tab shows a Primary and a second partner.
TWO_PARTNER_CASE = "CASE-2026-000057"
PART_2_CASE = "CASE-2026-000019"  # its consent covers substance-use records
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def wait_for(base_url: str, seconds: float) -> None:
    """Wait until the server answers its sign-in page (it is started just before us)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(base_url + "/login/", timeout=2):  # noqa: S310
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                sys.exit(f"screenshots: no server answered at {base_url} in {seconds:.0f}s")
            time.sleep(0.25)


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    page.wait_for_load_state("networkidle")
    # No blinking caret, running transition or hover state in the picture.
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page, animations="disabled")
    print(f"screenshots: {name}.png")


def sign_in(page: Page, base_url: str, path: str, username: str) -> None:
    page.goto(base_url + path)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def agency(browser, base_url: str) -> None:
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    page.goto(base_url + "/login/")
    shoot(page, "sign-in")

    sign_in(page, base_url, "/login/", "manager")
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
    shoot(page, "cases-list", full_page=False)

    # Query the Cases List, drill down on Case Name, open the Partners tab.
    page.get_by_label("Search cases").fill(TWO_PARTNER_CASE)
    results = page.locator("#case-results")
    expect(results.get_by_role("row")).to_have_count(2)
    results.get_by_role("row").nth(1).get_by_role("link").first.click()
    page.get_by_role("navigation", name="Case views").get_by_role(
        "link", name="Partners", exact=True
    ).click()
    expect(page.get_by_role("link", name="Partners", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    shoot(page, "case-partners")

    # The Case Team tab: the pending referral with its due time, and every referral below.
    page.get_by_role("navigation", name="Case views").get_by_role(
        "link", name="Case Team", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Referrals", exact=True)).to_be_visible()
    shoot(page, "case-team")

    # The Consent tab: the client's consents with their states, and emergency access.
    page.get_by_role("navigation", name="Case views").get_by_role(
        "link", name="Consent", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Emergency access")).to_be_visible()
    shoot(page, "case-consent")

    # The accounting of disclosures of the same case.
    page.get_by_role("link", name="Accounting of disclosures").click()
    expect(page.get_by_role("heading", level=1, name="Accounting of disclosures")).to_be_visible()
    shoot(page, "case-disclosures", full_page=False)

    page.goto(base_url + "/cases/inbox/")
    expect(page.get_by_role("heading", level=1, name="Inbox")).to_be_visible()
    shoot(page, "inbox", full_page=False)

    page.goto(base_url + "/cases/referrals/")
    expect(page.get_by_role("heading", level=1, name="Referrals")).to_be_visible()
    shoot(page, "referrals", full_page=False)
    context.close()


def portal(browser, base_url: str) -> None:
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    page.goto(base_url + "/portal/login/")
    shoot(page, "portal-sign-in")

    sign_in(page, base_url, "/portal/login/", "partner")
    expect(page.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
    expect(page.locator(".cwp-new-marker").first).to_be_visible()
    shoot(page, "my-cases")

    # The same list on a phone, before a case is opened and loses its asterisk.
    phone = browser.new_context(viewport=PHONE, is_mobile=True)
    mobile = phone.new_page()
    sign_in(mobile, base_url, "/portal/login/", "partner")
    expect(mobile.locator(".cwp-new-marker").first).to_be_visible()
    shoot(mobile, "my-cases-mobile", full_page=False)
    phone.close()

    # A New case: the referral box with Accept, the case details and the view tabs.
    new_row = page.locator("tr.cwp-row--new").first
    new_row.get_by_role("link").first.click()
    expect(page.get_by_role("button", name="Accept case")).to_be_visible()
    expect(page.locator("#case-tabs [aria-current=page]")).to_be_visible()
    shoot(page, "portal-case")

    # A case whose consent covers substance-use records: the Part 2 notice on its Notes.
    page.goto(base_url + "/portal/")
    page.get_by_label("Search").fill(PART_2_CASE)
    page.get_by_role("button", name="Apply").click()
    page.locator("table.cwp-my-cases tbody").get_by_role("link").first.click()
    page.get_by_role("navigation", name="View tabs").get_by_role("link", name="Notes").click()
    expect(page.get_by_role("heading", name=re.compile("42 CFR Part 2"))).to_be_visible()
    shoot(page, "portal-part2", full_page=False)
    context.close()

    # A partner manager's Intake: a case referred to the organization, to assign.
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    sign_in(page, base_url, "/portal/login/", "partnermgr")
    page.goto(base_url + "/portal/intake/")
    expect(page.get_by_role("heading", level=1, name="Intake")).to_be_visible()
    shoot(page, "portal-intake", full_page=False)
    context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the server")
    args = parser.parse_args()
    base_url = args.base_url.rstrip("/")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshots: no Chromium found (install Debian's `chromium`)")
    if args.wait:
        wait_for(base_url, args.wait)
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            agency(browser, base_url)
            portal(browser, base_url)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
