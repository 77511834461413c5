import copy
import os
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from tests.integration import chromium as browsers
from tests.integration.smtp import start_smtp_server
from tests.integration.stack import Browser, RedisServer, Stack, free_port
from tests.redis_server import require_redis

# A Redis DB index of the suite's own; every test adds a prefix of its own on top.
REDIS_URL = os.environ.get("INTEGRATION_REDIS_URL", "redis://127.0.0.1:6379/14")
STAFF_PASSWORD = "correct-horse-battery"
# Recovery knobs short enough that each fault heals within seconds. The claim timeout stays
# above the longest legitimate attempt (EMAIL_TIMEOUT for the send, again for QUIT).
FAULT_KNOBS = {
    "EMAIL_TIMEOUT": "2",
    "INVITATION_SWEEP_INTERVAL": "0.5",
    "INVITATION_REPUBLISH_AFTER": "3",
    "INVITATION_CLAIM_TIMEOUT": "10",
    "INVITATION_RETRY_BASE": "0.5",
    "INVITATION_RETRY_CAP": "1",
    "INVITATION_MAX_ATTEMPTS": "5",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_client():
    client = require_redis(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def smtp():
    controller, handler = start_smtp_server(free_port())
    yield handler
    controller.stop()


def database_url() -> str:
    """The URL of the test database that pytest-django created, for child processes."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user, host, port = settings["USER"], settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


@pytest.fixture
def stack(transactional_db, redis_client, smtp, tmp_path, settings):
    prefix = f"it{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URL,
        "CHANNEL_PREFIX": prefix,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "EMAIL_TIMEOUT": "5",
        "INVITATION_SWEEP_INTERVAL": "1",
        "INVITATION_REPUBLISH_AFTER": "5",
        "INVITATION_RETRY_BASE": "0.5",
        "INVITATION_RETRY_CAP": "2",
        "INVITATION_RATE_LIMIT": "100000",
        "PYTHONUNBUFFERED": "1",
    }
    # The test process publishes to the same layer as the processes it starts.
    layer = copy.deepcopy(settings.CHANNEL_LAYERS)
    layer["default"]["CONFIG"].update(prefix=prefix, hosts=[{"address": REDIS_URL, "socket_timeout": 15}])
    settings.CHANNEL_LAYERS = layer
    running = Stack(env, tmp_path)
    yield running
    running.stop()
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def staff_browser(stack, django_user_model):
    """Daphne running, and a browser logged in as a staff user who may invite."""
    user = django_user_model.objects.create_user("grace", "grace@example.com", STAFF_PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_invitation"))
    stack.start_web()
    browser = Browser(stack.base_url)
    browser.login("grace", STAFF_PASSWORD)
    return browser


@pytest.fixture
def member(django_user_model):
    """A user who may log in but not invite (like an invitee after sign-up)."""
    return django_user_model.objects.create_user("linus", "linus@example.com", STAFF_PASSWORD)


@pytest.fixture
def chromium(stack, staff):
    """Chromium, with the web process up and the staff user saved.

    Playwright's sync API keeps an event loop running in this thread, and Django refuses ORM
    calls while one runs: request this fixture after every fixture that writes to the
    database, and keep database work out of the test body.
    """
    stack.start_web()
    with browsers.launch() as browser:
        yield browser


@pytest.fixture
def use_layer(stack, settings):
    """Change the test process's channel layer, e.g. use_layer(expiry=3); children read stack.env."""

    def update(**config) -> None:
        layer = copy.deepcopy(settings.CHANNEL_LAYERS)
        layer["default"]["CONFIG"].update(config)
        settings.CHANNEL_LAYERS = layer  # assigning (not mutating) resets the cached layer

    return update


@pytest.fixture
def fault_stack(stack):
    """The stack with FAULT_KNOBS; a test may change stack.env further before starting processes."""
    stack.env.update(FAULT_KNOBS)
    return stack


@pytest.fixture
def private_redis(fault_stack, use_layer, tmp_path, settings):
    """A Redis of the test's own, used by the children and the test process, free to stop and restart."""
    server = RedisServer(tmp_path)
    server.start()
    fault_stack.env["REDIS_URL"] = server.url
    use_layer(hosts=[{"address": server.url, "socket_timeout": 15, "socket_connect_timeout": 2}])
    settings.INVITATIONS = {**settings.INVITATIONS, "REDIS_URL": server.url}
    yield server
    fault_stack.stop()  # the children first, so none of them logs a Redis outage at exit
    server.stop()
