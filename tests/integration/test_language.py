"""The invitee's language with real processes: the worker writes the mail in German, and the
invitee's page answers in German."""

import re

from tests.integration.stack import Browser, wait_for


def test_a_german_invitation_arrives_in_german_and_its_page_is_german(stack, staff_browser, smtp):
    stack.env["INVITATION_SITE_NAME"] = "Acme"  # the worker's; the web process started without it
    stack.start_worker()

    status, _ = staff_browser.submit(
        "/invites/new/", {"email": "ada@example.com", "language": "de"}, form_page="/invites/"
    )

    assert status == 200
    wait_for(lambda: smtp.received, timeout=15, message="the invitation mail")
    [mail] = smtp.received
    assert mail.message["Subject"] == "grace hat Sie eingeladen, Acme beizutreten"
    assert "Einladung hier annehmen:" in mail.text
    assert '<html lang="de">' in mail.html
    link = re.search(r"(http://\S+/invites/accept/[\w-]+/)", mail.text).group(1)
    status, page = Browser(stack.base_url).get(link)
    assert status == 200
    assert '<html lang="de">' in page
    assert "grace hat Sie eingeladen, 127.0.0.1 als <strong>ada@example.com</strong> beizutreten." in page
    assert "Mein Konto erstellen" in page
