"""The bulk page: how pasted text is read, why an address is invalid, and the results shown
after the redirect (invitations/bulk.py)."""

import pytest
from django.contrib.auth.models import Group

from invitations import bulk
from invitations.models import Invitation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        ("a@example.com, b@example.com;c@example.com\nd@example.com", [f"{n}@example.com" for n in "abcd"]),
        ("larry.wall@ example.com", ["larry.wall@ example.com"]),
        ("larry.wall @example.com x@example.com", ["larry.wall @example.com", "x@example.com"]),
        ("larry.wall @ example.com", ["larry.wall @ example.com"]),
        ("larry.wall@,example.com", ["larry.wall@", "example.com"]),  # a comma always separates
    ],
)
def test_a_space_beside_the_at_sign_keeps_one_address_together(text, addresses):
    assert list(bulk.split_addresses(text)) == addresses


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("larry.wall@ example.com", "It contains a space."),
        ("example.com", "It has no @."),
        ("@example.com", "Nothing before the @."),
        ("ada@", "No domain after the @."),
        ("ada@b@example.com", "It has more than one @."),
        ("ada@[127.0.0.1]", "An IP address instead of a domain name."),
        ('"ada lovelace"@example.com', "It contains a space."),
        ('"ada,l"@example.com', "A name in quotes before the @."),
        ("ada@localhost", "The domain has no dot (as in example.com)."),
        ("a" * 250 + "@example.com", "Longer than 254 characters."),
        ("ada..l@example.com", "Characters before the @ that an address cannot have."),
        ("ada@exa_mple.com", "“exa_mple.com” is not a valid domain."),
    ],
)
def test_each_invalid_address_says_why(email, reason):
    assert bulk.invalid_reason(email) == reason


def post_bulk(client, addresses: str):
    response = client.post("/invites/bulk/", {"addresses": addresses})
    assert (response.status_code, response["Location"]) == (302, "/invites/bulk/")
    return client.get("/invites/bulk/")


def test_results_after_the_redirect_say_what_happened_to_each_address_as_typed(staff_client):
    Invitation.objects.create(email="taken@example.com")

    response = post_bulk(
        staff_client,
        "new@example.com larry.wall@ example.com NEW@example.com user@bücher.example taken@example.com",
    )

    results = response.context["results"]
    assert [(row.address, row.label, row.note) for row in results.rows] == [
        ("new@example.com", "pending", ""),
        ("larry.wall@ example.com", "invalid", "It contains a space."),
        ("NEW@example.com", "duplicate in this list", ""),
        ("user@bücher.example", "pending", ""),  # as typed, not xn--bcher-kva
        ("taken@example.com", "already invited", ""),
    ]
    assert response.context["bulk_form"]["addresses"].value() == "larry.wall@ example.com"
    assert "user@bücher.example" in response.content.decode()


def test_a_row_the_worker_sent_meanwhile_shows_sent_not_queued(staff_client):
    post_bulk(staff_client, "ada@example.com")
    Invitation.objects.filter(email="ada@example.com").update(status=Invitation.Status.SENT)

    response = staff_client.get("/invites/bulk/")

    assert [row.label for row in response.context["results"].rows] == ["sent"]
    assert '<span class="result result-sent">sent</span>' in response.content.decode()


def test_over_the_limit_addresses_go_back_to_the_box_too(staff_client, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 1}

    response = post_bulk(staff_client, "a@example.com b@example.com")

    assert response.context["bulk_form"]["addresses"].value() == "b@example.com"


def test_only_so_many_rows_are_kept_and_the_rest_counted(staff_client, monkeypatch):
    monkeypatch.setattr(bulk, "KEPT_ROWS", 2)

    response = post_bulk(staff_client, "a@example.com b@example.com c@example.com")

    assert len(response.context["results"].rows) == 2
    assert "And 1 more address." in response.content.decode()


def test_the_bulk_page_without_a_post_has_no_results(staff_client):
    response = staff_client.get("/invites/bulk/")

    assert response.status_code == 200
    assert response.context["results"] is None


def test_the_groups_box_is_there_only_for_a_sender_who_may_grant_some(staff_client, staff):
    Group.objects.create(name="Editors")
    assert 'id="id_groups"' not in staff_client.get("/invites/bulk/").content.decode()

    staff.groups.add(Group.objects.get(name="Editors"))
    page = staff_client.get("/invites/bulk/").content.decode()

    assert 'name="groups"' in page
    assert "Editors" in page


def test_a_group_the_sender_may_not_grant_is_refused_where_it_can_be_read(staff_client):
    editors = Group.objects.create(name="Editors")

    response = staff_client.post("/invites/bulk/", {"addresses": "a@example.com", "groups": [editors.pk]})

    assert response.status_code == 400
    assert "You may not grant Editors." in response.content.decode()
    assert not Invitation.objects.exists()


def test_with_the_session_in_a_cookie_the_post_shows_the_results_itself(client, staff, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 1000}
    client.force_login(staff)
    addresses = " ".join(f"person-{n}@example.com" for n in range(300)) + " not-an-address"

    response = client.post("/invites/bulk/", {"addresses": addresses})

    assert response.status_code == 200
    assert len(response.context["results"].rows) == 301
    assert response.context["bulk_form"]["addresses"].value() == "not-an-address"
    assert len(client.cookies["sessionid"].value) < 1000  # the login, not the results
    assert client.get("/invites/").status_code == 200  # still logged in
