"""The staff board and the invitee's sign-up in a real browser (Debian's Chromium, driven by
Playwright) against the real stack: daphne, one worker, Redis and an SMTP server."""

import re

import pytest
from playwright.sync_api import expect

from tests.integration.chromium import PASSWORD, VIEWPORTS, check_screen, log_in, new_page
from tests.integration.stack import ROOT

SCREENSHOT = ROOT / "test-artifacts" / "status-board.png"
# Resolves "accepted" if the server completes the WebSocket handshake, "refused" if it closes
# the socket first (daphne answers 403 to a consumer that closes before accepting).
OPEN_BOARD_SOCKET = """() => new Promise((resolve) => {
  const socket = new WebSocket("ws://" + location.host + "/ws/invites/");
  socket.onopen = () => { socket.close(); resolve("accepted"); };
  socket.onclose = () => resolve("refused");
})"""


def test_staff_sees_the_invitation_sent_live_and_the_invitee_signs_up_once(stack, smtp, chromium):
    board = log_in(chromium, stack.base_url, "grace")
    expect(board.get_by_role("heading", name="Invite someone")).to_be_visible()

    board.get_by_label("E-mail address").fill("ada@example.com")
    board.get_by_role("button", name="Invite", exact=True).click()
    expect(board.get_by_role("status")).to_have_text("Invitation to ada@example.com queued for sending.")
    board.evaluate("window.__marker = 1")  # gone if anything reloads the page from here on
    row = board.locator("tr", has=board.locator("td.email", has_text="ada@example.com"))
    badge = row.locator("td.status span")
    expect(badge).to_have_text("pending")
    # The worker starts only once the board listens, so "sent" can only arrive live.
    expect(board.locator(".live-state")).to_have_text("live")
    stack.start_worker()

    expect(badge).to_have_text("sent", timeout=20_000)
    expect(badge).to_have_class("status status-sent")
    expect(badge).to_have_css("background-color", "rgb(218, 251, 225)")  # green, not the grey default
    expect(row.locator("td.attempts")).to_have_text("1")
    expect(row.locator("td.sent")).not_to_have_text("—")
    assert board.evaluate("window.__marker") == 1, "the board reloaded instead of updating live"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    board.screenshot(path=SCREENSHOT, full_page=True)

    # The worker stamps the row only after the SMTP server accepted the mail.
    assert smtp.recipients() == ["ada@example.com"]
    link = re.search(r"(http://\S+/invites/accept/[\w-]+/)", smtp.received[0].text).group(1)
    invitee = new_page(chromium, stack.base_url)  # not logged in as the staff
    response = invitee.goto(link)
    assert response.status == 200
    expect(invitee.get_by_text("grace invited you to join")).to_be_visible()
    expect(invitee.get_by_text("ada@example.com", exact=True)).to_be_visible()

    invitee.get_by_label("Username").fill("ada")
    invitee.get_by_label("Password:", exact=True).fill(PASSWORD)
    invitee.get_by_label("Password confirmation:").fill(PASSWORD)
    invitee.get_by_role("button", name="Create my account").click()

    expect(invitee.get_by_role("status")).to_have_text(
        "Welcome, ada! Your account is ready and you are logged in."
    )
    assert invitee.url == stack.base_url + "/"  # the site's home, not a 403
    expect(invitee.get_by_role("heading", name="Hello, ada")).to_be_visible()
    expect(invitee.locator("header")).to_contain_text("ada")
    expect(badge).to_have_text("accepted")  # the staff board follows along
    assert board.evaluate("window.__marker") == 1
    live_row = row.inner_text()
    board.reload()
    assert row.inner_text() == live_row, "live.js shows the row differently from the page"

    response = invitee.goto(link)
    assert response.status == 410
    expect(invitee.get_by_text("It has already been accepted.")).to_be_visible()


def test_board_socket_admits_only_users_who_may_invite(stack, member, chromium):
    anonymous = new_page(chromium, stack.base_url)
    anonymous.goto("/accounts/login/")  # same origin, so only the missing login can refuse it
    assert anonymous.evaluate(OPEN_BOARD_SOCKET) == "refused"

    without_permission = log_in(chromium, stack.base_url, "linus", landing="**/")
    expect(without_permission.get_by_role("heading", name="Hello, linus")).to_be_visible()
    assert without_permission.evaluate(OPEN_BOARD_SOCKET) == "refused"

    staff = log_in(chromium, stack.base_url, "grace")
    expect(staff.locator(".live-state")).to_have_text("live")
    assert staff.evaluate(OPEN_BOARD_SOCKET) == "accepted"


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_login_page_fits_and_passes_axe(stack, chromium, viewport):
    page = new_page(chromium, stack.base_url, viewport)
    page.goto("/accounts/login/")
    check_screen(page, "login")
