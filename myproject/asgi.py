"""ASGI entry point: HTTP for the web process, the send-invite channel for the worker."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

# Set up Django before importing anything that touches models.
django_asgi_app = get_asgi_application()

from myproject.staticfiles import require_collected_static_files  # noqa: E402

require_collected_static_files()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from invitations import queue  # noqa: E402
from invitations.consumers import InvitationSendConsumer, InvitationStatusConsumer  # noqa: E402
from myproject.shutdown import finish_requests_on_shutdown  # noqa: E402

# queue.serving: a request's wake-up goes out from this loop without the request waiting for it.
application = queue.serving(
    ProtocolTypeRouter(
        {
            "http": finish_requests_on_shutdown(
                django_asgi_app, timeout=settings.WEB_SHUTDOWN_TIMEOUT, then=queue.publishing_finished
            ),
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([path("ws/invites/", InvitationStatusConsumer.as_asgi())]))
            ),
            "channel": ChannelNameRouter({settings.INVITATION_CHANNEL: InvitationSendConsumer.as_asgi()}),
        }
    )
)
