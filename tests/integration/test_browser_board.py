"""The staff board, its forms and its actions in Debian's Chromium at 390 and 1280 px: every
screen fits without sideways scrolling and passes axe-core (check_screen), and does what a
person expects of it."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import Page, expect

from invitations.models import Invitation
from tests.integration.chromium import PHONE, VIEWPORTS, check_screen, log_in

Status = Invitation.Status
LONG = "a.very.long.local.part.of.an.address.that.goes.on.and.on@subdomain.of.an.example.org"
LONG = LONG[: 88 - len("@example.com")] + "@example.com"  # 88 characters
STATES = {  # each status the board shows, with what makes it so
    "pending": {},
    "sending": {"status": Status.SENDING},
    "sent": {"status": Status.SENT, "sent_days_ago": 1},
    "expired": {"status": Status.SENT, "sent_days_ago": 30},
    "failed": {"status": Status.FAILED, "last_error": "550 5.1.1 mailbox unavailable", "attempts": 5},
    "accepted": {"status": Status.ACCEPTED, "sent_days_ago": 2},
    "revoked": {"status": Status.REVOKED},
    "bounced": {"status": Status.BOUNCED, "last_error": "hard bounce: no such user", "sent_days_ago": 1},
    "complained": {"status": Status.COMPLAINED, "last_error": "marked as spam", "sent_days_ago": 1},
    "opted_out": {"status": Status.OPTED_OUT, "sent_days_ago": 1},
}
TEAM = 60  # pending invitations of one sender to team-NN@…: more than a page


@pytest.fixture
def board_rows(staff, django_user_model):
    """~30 invitations in every state (an 88-character address among them), and TEAM more."""
    now = timezone.now()
    staff.user_permissions.add(Permission.objects.get(codename="change_invitation"))
    other = django_user_model.objects.create_user("hopper", "hopper@example.com", "correct-horse-battery")
    other.user_permissions.add(Permission.objects.get(codename="add_invitation"))
    rows = []
    for minute, (name, fields) in enumerate([*STATES.items()] * 3, start=1):
        fields = dict(fields)
        sent = fields.pop("sent_days_ago", None)
        email = LONG if name == "pending" and minute == 1 else f"{name}-{minute}@example.com"
        rows.append(
            Invitation(
                email=email,
                sender=staff if minute % 2 else other,
                created=now - timedelta(minutes=minute),
                sent=sent and now - timedelta(days=sent),
                **fields,
            )
        )
    rows += [
        Invitation(
            email=f"team-{n:02d}@example.com", sender=staff, created=now - timedelta(days=2, minutes=n)
        )
        for n in range(1, TEAM + 1)
    ]
    Invitation.objects.bulk_create(rows)
    return rows


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def row_of(page: Page, email: str):
    return page.locator("tr", has=page.locator("td.email", has_text=re.compile(f"^{re.escape(email)}$")))


def test_board_screens_fit_pass_axe_and_say_what_each_row_is(board_rows, staff, chromium, stack):
    page = log_in(chromium, stack.base_url, "grace")
    for name, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        page.goto("/invites/?status=")
        expect(page.locator(".live-state")).to_have_text("live")
        check_screen(page, f"board-{name}")
        long_row = row_of(page, LONG)
        expect(long_row).to_have_count(1)
        for state in STATES:
            badge = page.locator(f"tr[data-state={state}] td.status span.status").first
            expect(badge).to_have_class(f"status status-{state}")
        expect(page.locator("tr[data-state=expired] span.status").first).to_have_text("expired")
        expect(page.locator("tr[data-state=failed] .reason").first).to_have_text(
            "550 5.1.1 mailbox unavailable"
        )
        expect(page.locator("tr[data-state=opted_out] .reason").first).to_contain_text(
            "asked not to be invited"
        )
        sent = page.locator("tr[data-state=sent] td.sent time").first
        expect(sent).to_have_text("yesterday")  # Intl.RelativeTimeFormat, in the page's language
        expect(sent).to_have_attribute("title", re.compile(r"\d{4}"))
        # Buttons by state: resend on sent and expired, retry on failed, revoke on the open ones.
        expect(page.locator("tr[data-state=failed] .action-retry").first).to_be_visible()
        expect(page.locator("tr[data-state=failed] .action-resend").first).to_be_hidden()
        expect(page.locator("tr[data-state=expired] .action-resend").first).to_be_visible()
        expect(page.locator("tr[data-state=accepted] td.actions").first.locator(":visible")).to_have_count(0)

        page.goto(f"/invites/?status=pending&q=team&sender={staff.pk}")
        expect(page.locator("tbody tr")).to_have_count(50)
        page.get_by_role("link", name="Older →").click()
        expect(page.locator("tbody tr")).to_have_count(TEAM - 50)
        assert query_of(page).keys() == {"status", "sender", "q", "before"}
        expect(page.get_by_role("link", name="← Newer")).to_be_visible()
        check_screen(page, f"board-filtered-page-2-{name}")

        row_of(page, "team-60@example.com").get_by_role("link", name="Revoke…").click()
        expect(page.get_by_role("heading", name="Revoke the invitation?")).to_be_visible()
        check_screen(page, f"revoke-confirm-{name}")
        page.get_by_role("link", name="No, go back").click()
        assert query_of(page).keys() == {"status", "sender", "q", "before"}

        page.goto("/invites/")
        page.get_by_label("E-mail address").fill("larry.wall@ example.com")
        page.get_by_role("button", name="Invite", exact=True).click()
        field = page.get_by_label("E-mail address")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#id_email_error")).to_have_text("Enter a valid email address.")
        expect(field).to_have_attribute("aria-describedby", "id_email_error")
        assert page.url == stack.base_url + "/invites/"
        check_screen(page, f"invite-error-{name}")


def test_bulk_results_say_what_happened_to_each_address_and_keep_the_rejected(board_rows, chromium, stack):
    page = log_in(chromium, stack.base_url, "grace", PHONE)
    page.goto("/invites/bulk/")
    pasted = "new-1@example.com, larry.wall@ example.com\nnew-1@EXAMPLE.com"
    pasted += " user@bücher.example team-01@example.com"
    page.get_by_label("Addresses").fill(pasted)
    page.get_by_role("button", name="Invite all").click()

    expect(page.get_by_role("status")).to_have_text("2 of 5 invitation(s) queued for sending.")
    assert page.url == stack.base_url + "/invites/bulk/"
    results = page.locator("table.results tbody tr")
    expect(results).to_have_count(5)
    expect(results.nth(0)).to_contain_text("pending")
    expect(results.nth(1)).to_contain_text("larry.wall@ example.com")
    expect(results.nth(1)).to_contain_text("invalid It contains a space.")
    expect(results.nth(2)).to_contain_text("duplicate in this list")
    expect(results.nth(3).locator("td.address")).to_have_text("user@bücher.example")  # not punycode
    expect(results.nth(4)).to_contain_text("already invited")
    expect(page.get_by_label("Addresses")).to_have_value("larry.wall@ example.com")
    for name, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        check_screen(page, f"bulk-results-{name}")
    page.reload()  # a GET: nothing is invited twice
    expect(page.locator("table.results tbody tr")).to_have_count(5)


def test_actions_go_back_to_the_page_every_board_sees_them_live_and_need_the_permission(
    board_rows, chromium, stack
):
    watching = log_in(chromium, stack.base_url, "grace")
    watching.goto("/invites/?status=pending&q=team")
    watching.get_by_role("link", name="Older →").click()
    expect(watching.locator(".live-state")).to_have_text("live")
    first_page = log_in(chromium, stack.base_url, "grace")
    expect(first_page.locator(".live-state")).to_have_text("live")

    acting = log_in(chromium, stack.base_url, "grace", PHONE)
    acting.goto(watching.url)
    page_two = acting.url
    row_of(acting, "team-55@example.com").get_by_role("link", name="Revoke…").click()
    acting.get_by_role("button", name="Yes, revoke it").click()
    assert acting.url == page_two  # post/redirect/get, back to the same page
    expect(acting.get_by_role("status")).to_contain_text("team-55@example.com is revoked")
    expect(row_of(acting, "team-55@example.com")).to_have_count(0)  # no longer pending: not on this page
    expect(row_of(watching, "team-55@example.com").locator("span.status")).to_have_text("revoked")

    acting.goto("/invites/?status=expired")
    expired = acting.locator("tr[data-state=expired]").first
    email = expired.locator("td.email").inner_text()
    expired.get_by_role("button", name="Resend").click()
    assert acting.url == stack.base_url + "/invites/?status=expired"
    expect(acting.get_by_role("status")).to_contain_text(f"{email} goes out again")
    expect(row_of(first_page, email).locator("span.status")).to_have_text("pending")

    acting.goto("/invites/")
    acting.get_by_label("E-mail address").fill("newcomer@example.com")
    acting.get_by_role("button", name="Invite", exact=True).click()
    expect(row_of(first_page, "newcomer@example.com")).to_have_count(1)  # live, on the first page
    expect(watching.locator("tbody tr")).to_have_count(TEAM - 50)  # not on page 2

    without_change = log_in(chromium, stack.base_url, "hopper", PHONE)  # may invite, not change
    expect(without_change.locator("tbody tr").first).to_be_visible()
    expect(without_change.locator("td.actions, th.actions")).to_have_count(0)
    assert without_change.goto(f"/invites/{board_rows[0].pk}/revoke/").status == 403
