"""ASGI entry point: HTTP and the board's WebSocket for the web process, the send-invite
channel for the worker."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

from django.conf import settings  # noqa: E402

from myproject.database import limit_statements  # noqa: E402

if not settings.configured:
    # This file is the entry point: the web process. (The worker and migrate start from
    # manage.py, which configured settings first; they must never have a request's limit.)
    limit_statements(settings.DATABASES["default"], settings.DATABASE_STATEMENT_TIMEOUT)

from django.core.asgi import get_asgi_application  # noqa: E402

# Set up Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from myproject.staticfiles import require_collected_static_files  # noqa: E402

require_collected_static_files()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from invitations import routing  # noqa: E402

application = routing.serving(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(routing.websocket_urlpatterns))
            ),
            "channel": ChannelNameRouter(routing.channel_routes),
        }
    )
)
