import copy
import re
import time

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission

from invitations import delivery, liveness, mail
from invitations.conf import app_settings
from invitations.delivery import DeliveryOutcome
from invitations.models import Invitation
from myproject import settings as project_settings
from tests.redis_server import require_redis

IN_MEMORY_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def uncollected_static_files(settings):
    """Tests render templates without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def in_memory_channel_layer(request, settings):
    """Unit tests publish to an in-memory layer; integration tests use the real Redis."""
    if request.node.get_closest_marker("integration") is None:
        settings.CHANNEL_LAYERS = IN_MEMORY_LAYERS


@pytest.fixture(autouse=True)
def fast_password_hashing(request, settings):
    """Unit tests create many users; integration processes keep the real hashers."""
    if request.node.get_closest_marker("integration") is None:
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def channel_layer(in_memory_channel_layer):
    from channels.layers import get_channel_layer

    return get_channel_layer()


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("grace", "grace@example.com", "correct-horse-battery")
    user.is_staff = True
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="add_invitation"))
    return user


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """Keep the SQLite test database in a file, so worker and web subprocesses share it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def published(channel_layer):
    """Drain the send-invite channel: returns the messages published to it so far."""

    async def drain() -> list[dict]:
        await channel_layer.send("send-invite", {"type": "test.end"})
        messages = []
        while (message := await channel_layer.receive("send-invite"))["type"] != "test.end":
            messages.append(message)
        return messages

    return async_to_sync(drain)


@pytest.fixture
def deliver(mailoutbox):
    """Run one delivery the way the worker does, with Django's locmem mail backend."""

    def deliver(invitation: Invitation, mailer: mail.ReusableMailer | None = None) -> DeliveryOutcome:
        mailer = mailer or mail.ReusableMailer()
        try:
            outcomes = delivery.invitations_deliver(
                invitation_ids=[invitation.pk], worker="test-worker", mailer=mailer
            )
            return outcomes[invitation.pk]
        finally:
            mailer.close()

    return deliver


@pytest.fixture
def sent_invitation(staff, deliver, mailoutbox):
    """A delivered invitation and the key from the link in its mail (the key is stored nowhere)."""
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)
    assert deliver(invitation) == DeliveryOutcome.SENT
    key = re.search(r"/invites/accept/([^/\s]+)/", mailoutbox[-1].body).group(1)
    invitation.refresh_from_db()
    return invitation, key


@pytest.fixture
def redis_client(settings):
    """The project's Redis channel layer instead of the in-memory one; cleaned up afterwards."""
    settings.CHANNEL_LAYERS = copy.deepcopy(project_settings.CHANNEL_LAYERS)
    client = require_redis(app_settings.REDIS_URL)
    yield client
    keys = list(client.scan_iter(match=f"{app_settings.KEY_PREFIX}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def heartbeat(redis_client, settings):
    """Write the worker's heartbeat as it would, `age` seconds ago."""

    def beat(age: float = 0) -> None:
        redis_client.set(liveness.heartbeat_key(), time.time() - age)

    return beat
