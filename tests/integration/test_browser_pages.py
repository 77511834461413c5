"""Every page around the board in Chromium, at a phone's and a desktop's width, as production
serves them (DEBUG off, collected static files): the invitee's path from the sign-up form to the
home page, logging out, the error pages and the admin. Each screen passes check_screen: no
sideways scrolling, no serious or critical axe-core violation, a screenshot."""

import os
from datetime import UTC, datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from invitations import keys
from invitations.models import Invitation
from tests.integration.chromium import PASSWORD, VIEWPORTS, check_screen, log_in, new_page
from tests.integration.stack import manage

SECRET_KEY = "browser-pages-" + "s" * 40  # the stack's, so that the test can make accept links
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": SECRET_KEY,
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_HSTS_SECONDS": "0",
    "DJANGO_SETTINGS_MODULE": "tests.errors.settings",  # myproject's, plus three URLs that fail
}
# The list's own box scrolls sideways when its table is wider (Django's .results).
LIST_OVERFLOW = """() => {
  const box = document.querySelector("#changelist .results");
  return box.scrollWidth - box.clientWidth;
}"""
LONG_ADDRESS = "margaret.hamilton.apollo.guidance.computer.software.engineering@" + "example.com"


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    manage({**os.environ, **PRODUCTION, "STATIC_ROOT": str(root)}, "collectstatic", "--noinput", "-v0")
    return root


@pytest.fixture
def stack(stack, static_root):
    stack.env.update(PRODUCTION, STATIC_ROOT=str(static_root))
    return stack


@pytest.fixture
def accept_links(stack, staff, settings):
    """A sent invitation for each viewport, and its link (made with the stack's SECRET_KEY)."""
    settings.SECRET_KEY = SECRET_KEY
    links = {}
    for name in VIEWPORTS:  # one each: a link works once
        invitation = Invitation.objects.create(
            email=f"ada.{name}@example.com", sender=staff, status=Invitation.Status.SENT, sent=timezone.now()
        )
        links[name] = f"/invites/accept/{keys.invitation_key(invitation)}/"
    return links


@pytest.fixture
def admin_rows(staff, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    Status = Invitation.Status
    sent = Invitation.objects.create(
        email=LONG_ADDRESS, sender=staff, status=Status.SENT, sent=timezone.now()
    )
    Invitation.objects.create(
        email="failed@example.com", sender=staff, status=Status.FAILED, last_error="550 " * 40
    )
    accepted = Invitation.objects.create(email="accepted@example.com", status=Status.ACCEPTED)
    # The widest date Django's English format writes, whatever the time of the run.
    widest = datetime(2026, 9, 30, 22, 59, tzinfo=UTC)  # "Sept. 30, 2026, 10:59 p.m."
    Invitation.objects.filter(pk=accepted.pk).update(created=widest, sent=widest)
    return sent


def test_every_page_around_the_board_fits_and_passes_axe(accept_links, admin_rows, member, chromium, stack):
    """One stack for every screen at both widths: starting one is most of the time a test takes."""
    for name, viewport in VIEWPORTS.items():
        invitee_signs_up_lands_home_and_logs_out(chromium, stack, accept_links[name], viewport)
        login_and_error_pages(chromium, stack, viewport)
        admin_pages(chromium, stack, viewport, admin_rows.pk)


def invitee_signs_up_lands_home_and_logs_out(chromium, stack, link: str, viewport: dict) -> None:
    username = f"ada_{viewport['width']}"
    page = new_page(chromium, stack.base_url, viewport)
    page.goto(link)
    expect(page.get_by_role("heading", name="Join 127.0.0.1")).to_be_visible()
    check_screen(page, "accept")

    page.get_by_label("Username").fill(username)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation:").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Create my account").click()
    assert page.url == stack.base_url + "/"  # INVITATION_ACCEPT_REDIRECT_URL's default
    expect(page.get_by_role("status")).to_have_text(
        f"Welcome, {username}! Your account is ready and you are logged in."
    )
    expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()
    check_screen(page, "home")

    assert page.goto(link).status == 410
    expect(page.get_by_text("It has already been accepted.")).to_be_visible()
    check_screen(page, "accept-410")

    page.goto("/")
    page.locator("main").get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="You are logged out")).to_be_visible()
    check_screen(page, "logged-out")
    page.get_by_role("link", name="Log in again").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.context.close()


def login_and_error_pages(chromium, stack, viewport: dict) -> None:
    page = new_page(chromium, stack.base_url, viewport)
    page.goto("/accounts/login/")
    check_screen(page, "login")
    for path, status, name in [
        ("/test-errors/400/", 400, "error-400"),
        ("/no/such/page/", 404, "error-404"),
        ("/test-errors/500/", 500, "error-500"),
        ("/test-errors/503/", 503, "error-503"),
    ]:
        assert page.goto(path).status == status
        expect(page.locator(".ways-back a").first).to_be_visible()
        check_screen(page, name)
    page.context.close()

    member_page = log_in(chromium, stack.base_url, "linus", viewport, landing="**/")
    expect(member_page.get_by_role("heading", name="Hello, linus")).to_be_visible()  # not a 403
    assert member_page.goto("/invites/").status == 403
    expect(member_page.get_by_role("heading", name="You may not open this page")).to_be_visible()
    check_screen(member_page, "error-403")
    member_page.context.close()


def admin_pages(chromium, stack, viewport: dict, invitation_id: int) -> None:
    page = log_in(chromium, stack.base_url, "root", viewport, landing="**/")
    page.goto("/admin/invitations/invitation/")
    expect(page.locator("#site-name")).to_have_text("127.0.0.1")
    check_screen(page, "admin-changelist")
    if viewport["width"] >= 1280:  # the whole table, 88-character address and all
        assert page.evaluate(LIST_OVERFLOW) <= 0
    page.goto(f"/admin/invitations/invitation/{invitation_id}/change/")
    expect(page.get_by_role("button", name="Resend")).to_be_visible()
    check_screen(page, "admin-change")
    page.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_role("button", name="Yes, revoke")).to_be_visible()
    check_screen(page, "admin-revoke")
    page.goto("/admin/invitations/invitation/add/")
    check_screen(page, "admin-add")
    page.context.close()
