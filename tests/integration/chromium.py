"""Debian's Chromium driven by Playwright, and the checks every screen must pass in it.

`check_screen` is the browser's half of "works on a phone": at the page's current viewport
nothing may scroll sideways (`scrollWidth ≤ innerWidth`), axe-core (bundled by
axe-playwright-python) may find no serious or critical violation, and a screenshot goes to
`test-artifacts/screens/` (git-ignored) for whoever wants to look.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.integration.stack import ROOT

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery"  # the `staff` fixture's password
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
SCREENS = ROOT / "test-artifacts" / "screens"
BLOCKING_IMPACTS = {"serious", "critical"}
SIDEWAYS_OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@contextmanager
def launch() -> Iterator[Browser]:
    """A headless Chromium; fails (never skips) when Debian's is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make debian-packages` (Playwright never downloads one)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def new_page(browser: Browser, base_url: str, viewport: dict = DESKTOP) -> Page:
    """A page in a fresh context: its own cookies, as a separate person's browser."""
    context = browser.new_context(base_url=base_url, viewport=viewport)
    context.set_default_timeout(10_000)
    return context.new_page()


def log_in(
    browser: Browser, base_url: str, username: str, viewport: dict = DESKTOP, landing="**/invites/"
) -> Page:
    """A fresh browser that has logged in through the login form."""
    page = new_page(browser, base_url, viewport)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(landing)
    return page


def check_screen(page: Page, name: str) -> None:
    """The page as it is now fits its viewport, passes axe-core, and is saved as a screenshot."""
    viewport = page.viewport_size
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENS / f"{name}-{viewport['width']}x{viewport['height']}.png", full_page=True)
    overflow = page.evaluate(SIDEWAYS_OVERFLOW)
    assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {viewport['width']}px wide"
    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"{name} at {viewport['width']}px: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:3]}"
        for v in blocking
    )
