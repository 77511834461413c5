"""The error pages with DEBUG off: each in the site's layout (its stylesheet, a viewport for
phones), saying what happened, with a way back."""

import pytest
from django.template import loader

pytestmark = pytest.mark.django_db

LAYOUT = ['<meta name="viewport" content="width=device-width, initial-scale=1">', "invitations/site.css"]


@pytest.fixture
def failing_urls(settings, client):
    settings.ROOT_URLCONF = "tests.errors.urls"
    client.raise_request_exception = False  # as a server answers: the handler's page
    return client


def assert_in_layout(response, status: int, *texts: str) -> str:
    assert response.status_code == status
    page = response.content.decode()
    for text in [*LAYOUT, *texts]:
        assert text in page
    return page


def test_a_bad_request_is_a_400_page_with_a_way_home(client, settings):
    assert settings.DEBUG is False
    response = client.get("/", HTTP_HOST="elsewhere.example")  # not in ALLOWED_HOSTS

    assert_in_layout(
        response, 400, "We could not understand that request", 'href="/">Go to the home page</a>'
    )


def test_an_unknown_page_is_a_404_page_with_ways_back(client):
    response = client.get("/no/such/page/")

    assert_in_layout(
        response,
        404,
        "This page does not exist",
        ">Go to the home page</a>",
        'href="/accounts/login/">Log in</a>',
    )


def test_a_member_on_the_board_gets_a_403_page_that_names_the_account(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("linus", "linus@example.com", "pw-linus-1"))

    response = client.get("/invites/")

    page = assert_in_layout(response, 403, "You may not open this page", "<strong>linus</strong>")
    assert ">Go to the home page</a>" in page
    assert "Log in as someone else" in page


def test_a_failing_view_is_a_500_page_rendered_without_the_request(failing_urls):
    response = failing_urls.get("/test-errors/500/")

    assert_in_layout(
        response, 500, "Something went wrong on our side", ">Try again</a>", ">Go to the home page</a>"
    )


def test_the_500_page_needs_no_context_at_all():
    page = loader.get_template("500.html").render()  # what Django's server_error does

    assert "Something went wrong on our side" in page


def test_a_database_that_is_away_is_a_503_page_that_says_to_try_again(failing_urls):
    response = failing_urls.get("/test-errors/503/")

    assert_in_layout(response, 503, "We can't reach our database right now", ">Try again</a>")
    assert response["Retry-After"] == "30"


def test_a_used_link_is_a_410_page_in_the_layout(client, sent_invitation):
    invitation, key = sent_invitation
    invitation.status = invitation.Status.REVOKED
    invitation.save()

    response = client.get(f"/invites/accept/{key}/")

    assert_in_layout(
        response, 410, "This invitation can no longer be used", "It was revoked by the person who sent it."
    )
