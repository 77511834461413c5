import pytest
from django.contrib.auth.models import Permission

IN_MEMORY_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def in_memory_channel_layer(request, settings):
    """Unit tests publish to an in-memory layer; integration tests use the real Redis."""
    if request.node.get_closest_marker("integration") is None:
        settings.CHANNEL_LAYERS = IN_MEMORY_LAYERS


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
