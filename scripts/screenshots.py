"""Take the README screenshots from a running Caseworks with the demo data loaded.

Usage: python scripts/screenshots.py [BASE_URL]   (default http://127.0.0.1:8000)
Drives the system Chromium through Playwright; writes PNG files into docs/screenshots/.
"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "caseworks-demo"  # noqa: S105  (the documented demo password)

# (file name, sign-in page, user name or None, page to capture, viewport width)
SHOTS = [
    ("sign-in", "/login/", None, "/login/", 1280),
    ("cases-list", "/login/", "manager", "/cases/", 1280),
    ("portal-sign-in", "/portal/login/", None, "/portal/login/", 1280),
    ("my-cases", "/portal/login/", "partner", "/portal/", 1280),
]


def main(base_url: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshots: no Chromium found (install Debian's `chromium`)")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for name, login_path, username, path, width in SHOTS:
            context = browser.new_context(viewport={"width": width, "height": 800})
            page = context.new_page()
            if username:
                page.goto(base_url + login_path)
                page.get_by_label("User name").fill(username)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("networkidle")
            page.goto(base_url + path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(f"screenshots: {name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
