"""The one reminder, found and sent by a real worker's sweep."""

import re
from datetime import timedelta

from django.utils import timezone
from django.utils.formats import date_format

from invitations.models import Invitation
from tests.integration.stack import wait_for

LINK = re.compile(r"(http://\S+/invites/accept/[\w-]+/)")


def test_a_workers_sweep_sends_one_reminder_with_the_same_link(stack, staff_browser, smtp):
    stack.env["INVITATION_SITE_NAME"] = "Acme"
    stack.start_workers("worker-1", "worker-2")
    staff_browser.submit("/invites/new/", {"email": "ada@example.com"}, form_page="/invites/")
    wait_for(lambda: smtp.received, timeout=15, message="the invitation mail")
    invitation = wait_for(
        lambda: Invitation.objects.filter(sent__isnull=False).first(), timeout=10, message="sent"
    )

    Invitation.objects.filter(pk=invitation.pk).update(sent=invitation.sent - timedelta(days=3))

    wait_for(lambda: len(smtp.received) >= 2, timeout=30, message="the reminder")
    reminded = wait_for(
        lambda: Invitation.objects.filter(reminded__isnull=False).first(), timeout=10, message="the stamp"
    )
    first, reminder = smtp.received[:2]
    assert reminder.recipients == ["ada@example.com"]
    assert reminder.message["Subject"] == "Reminder: grace invited you to join Acme"
    assert LINK.search(reminder.text).group(1) == LINK.search(first.text).group(1)
    assert f"stops working on {date_format(timezone.localtime(reminded.expires))}." in reminder.text
    assert reminded.status == Invitation.Status.SENT
    assert len(smtp.received) == 2
