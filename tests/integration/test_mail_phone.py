"""The invitation mail's HTML part on a phone-sized screen, in a real browser (Debian's Chromium):
no sideways scrolling, even for the long accept link, and text at a readable size."""

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import sync_playwright

from invitations import keys, mail
from invitations.models import Invitation
from tests.integration.chromium import CHROMIUM, LAUNCH_ARGS

PHONE = {"width": 375, "height": 667}  # CSS pixels of a small phone


@pytest.fixture
def html(settings) -> str:
    settings.INVITATIONS = {**settings.INVITATIONS, "SITE_URL": "https://invitations.app.example.com"}
    invitation = Invitation(pk=123456, email="ada@example.org", sender=User(username="grace"))
    message = mail.build_message(invitation, key=keys.invitation_key(invitation))
    [(content, _)] = message.alternatives
    return content


def test_the_mail_fits_a_phone_without_scrolling_sideways(html):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make {CHROMIUM}` (Playwright never downloads one)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        page = browser.new_page(viewport=PHONE, is_mobile=True, device_scale_factor=2)
        page.set_content(html)
        width = page.evaluate("document.documentElement.scrollWidth")
        font_size = page.evaluate("getComputedStyle(document.querySelector('p')).fontSize")
        title = page.title()
        browser.close()

    assert width <= PHONE["width"]
    assert font_size == "16px"
    assert title == "grace invited you to join invitations.app.example.com"
