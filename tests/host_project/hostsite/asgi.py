import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

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
