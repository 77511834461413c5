"""Live status for the staff board: state changes go to a channel-layer group."""

import logging
import threading
from collections.abc import Iterable
from importlib import import_module
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from invitations.models import Invitation

logger = logging.getLogger(__name__)

STAFF_GROUP = "invitations-staff"
STATUS_MESSAGE_TYPE = "invitation.status"
PERMISSION = "invitations.add_invitation"


DEFAULT_PORTS = {"http": 80, "https": 443}


def board_origin_allowed(*, headers: Iterable[tuple[bytes, bytes]], scheme: str) -> bool:
    """Whether a board socket was opened by the site's own pages: its Origin is the origin the
    socket itself was opened on (scheme, host and port, as Django's CSRF check compares them),
    or one of CSRF_TRUSTED_ORIGINS. A socket without an Origin was not opened by a browser, so
    no other site's page can have opened it with the staff member's cookie."""
    sent = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
    if "origin" not in sent:
        return True
    if "host" not in sent:
        return False
    own_scheme = "https" if scheme in ("wss", "https") or _behind_tls_proxy(sent) else "http"
    origin = _origin(sent["origin"])
    trusted = {_origin(url) for url in settings.CSRF_TRUSTED_ORIGINS if "*" not in url}
    return origin is not None and origin in {_origin(f"{own_scheme}://{sent['host']}"), *trusted}


def _behind_tls_proxy(headers: dict[str, str]) -> bool:
    """SECURE_PROXY_SSL_HEADER says so, as for an HTTP request (HttpRequest.is_secure)."""
    if not settings.SECURE_PROXY_SSL_HEADER:
        return False
    header, secure_value = settings.SECURE_PROXY_SSL_HEADER
    value = headers.get(header.removeprefix("HTTP_").replace("_", "-").lower(), "")
    return value.split(",", 1)[0].strip() == secure_value


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with the scheme's default port filled in; None if not an origin."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


def board_viewer_allowed(*, user_pk, session_key: str | None) -> bool:
    """Whether a board's socket may go on: its user still exists, is active and may invite,
    and the session it was opened with (if any) still logs that user in: a logout, an expired
    session or a password change ends it. Reads the session without changing it."""
    user = get_user_model()._default_manager.filter(pk=user_pk).first()
    if user is None or not user.has_perm(PERMISSION):  # has_perm is False for inactive users
        return False
    if session_key is None:
        return True
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if session.get(SESSION_KEY) != user._meta.pk.value_to_string(user):
        return False
    session_hash = session.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(session_hash, known) for known in hashes)


def invitation_payload(invitation: Invitation) -> dict:
    """What a row of the board shows, as JSON."""
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "status": invitation.status,
        "state": invitation.state,  # "expired" for a sent one whose link expired, as the board says
        "status_label": invitation.status_label(),
        "reason": invitation.reason,
        "sent": invitation.sent and invitation.sent.isoformat(),  # the page formats it as it does its own
        "attempts": invitation.attempts,
        "sender": str(invitation.sender) if invitation.sender else None,
        "sender_id": invitation.sender_id,
    }


def invitation_announce(*, invitation: Invitation) -> None:
    """Tell connected staff boards the invitation's state. Best effort: never raises."""
    async_to_sync(send_payloads)([invitation_payload(invitation)])


async def send_payloads(payloads: list[dict]) -> None:
    """One group message with the states of several invitations. Never raises."""
    try:
        message = {"type": STATUS_MESSAGE_TYPE, "invitations": payloads}
        await get_channel_layer().group_send(STAFF_GROUP, message)
    except Exception as exc:
        logger.debug("status of %d invitation(s) not announced: %s", len(payloads), exc)


class Announcements:
    """State changes from a worker's consumers, sent to the boards as one message with the
    latest state of each invitation every `interval` seconds: two group_sends per mail, each a
    hop to the event loop and Redis round trips, took a quarter of a busy worker's time."""

    interval = 0.1

    def __init__(self) -> None:
        self._pending: dict[int, dict] = {}
        self._lock = threading.Lock()

    def add(self, *, invitation: Invitation) -> None:
        """Called from any consumer thread in place of `invitation_announce`."""
        payload = invitation_payload(invitation)
        with self._lock:
            self._pending[invitation.pk] = payload

    async def flush(self) -> None:
        with self._lock:
            payloads, self._pending = list(self._pending.values()), {}
        if payloads:
            await send_payloads(payloads)
