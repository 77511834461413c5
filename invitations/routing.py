"""What a project's asgi.py wires, after get_asgi_application():

    application = routing.serving(ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(routing.websocket_urlpatterns))
        ),
        "channel": ChannelNameRouter(routing.channel_routes),
    }))

`websocket_urlpatterns` and `channel_routes` are read from INVITATIONS when asked for, not
when this module is imported. AllowedHostsOriginValidator looks at the Origin's host only; the
board's consumer itself also requires the page's own scheme and port (live.board_origin_allowed).
"""

from django.urls import path

from invitations import background, body_limit, shutdown
from invitations.conf import app_settings


def serving(application):
    """ASGI middleware for the web process: a body over INVITATIONS["MAX_REQUEST_BYTES"] is
    answered 413 unread; a request's wake-up goes out from the server's event loop without the
    request waiting for it; on SIGTERM the requests in flight are answered (up to
    INVITATIONS["SHUTDOWN_TIMEOUT"] s) and their wake-ups sent before it exits (the lifespan
    "shutdown" under uvicorn, a Twisted trigger under daphne)."""
    finishing = shutdown.finish_requests_on_shutdown(application, then=background.web.finished)
    living = shutdown.lifespan(finishing, then=background.web.finished)
    return body_limit.refuse_large_bodies(background.web.remembering(living))


def __getattr__(name: str):
    from invitations.consumers import InvitationSendConsumer, InvitationStatusConsumer

    if name == "websocket_urlpatterns":
        return [path(app_settings.WEBSOCKET_PATH, InvitationStatusConsumer.as_asgi())]
    if name == "channel_routes":
        return {app_settings.CHANNEL: InvitationSendConsumer.as_asgi()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
