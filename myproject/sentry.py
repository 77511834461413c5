"""Errors of the web and worker processes to Sentry (SENTRY_DSN), never an address or a key."""

import re

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration

from myproject.logs import ACCEPT_KEY  # the mailed link's key, wherever a URL shows up

# An address, also URL-encoded (a search's ?q=ada%40example.com).
ADDRESS = re.compile(r"[^\s@<>\"'(),;:/\\\[\]?&=]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Headers that name the client (send_default_pii=False leaves them out).
CLIENT_HEADERS = ["forwarded", "-ip", "remote-", "via", "-user"]


def init(dsn: str, *, environment: str | None = None) -> None:
    """Report unhandled errors of requests and every ERROR log line (a crashed consumer's
    "delivery crashed" among them) to `dsn`."""
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        # What send_default_pii=False collects (that option is deprecated for this one), less:
        # no request bodies (the invite and sign-up forms hold the address), no frame locals
        # (they hold the key and the address), no cookies.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "denylist", "terms": CLIENT_HEADERS}},
            "http_bodies": [],
            "url_query_params": {"mode": "denylist", "terms": CLIENT_HEADERS},
            "database_query_data": False,
            "queues": False,
            "gen_ai": {"inputs": False, "outputs": False},
            "stack_frame_variables": False,
        },
        before_send=scrub,
        before_breadcrumb=lambda crumb, hint: _scrubbed(crumb),
    )


def scrub(event: dict, hint: dict) -> dict:
    """The event without addresses or accept keys, anywhere in it; the ids of the invitations
    that a log line named (`extra={"invitation_ids": …}`) as the tag `invitation_id`."""
    ids = (event.get("extra") or {}).get("invitation_ids")
    if isinstance(ids, list | tuple) and ids:
        event.setdefault("tags", {})["invitation_id"] = ",".join(str(i) for i in ids)
    return _scrubbed(event)


def _scrubbed(value):
    if isinstance(value, str):
        return ACCEPT_KEY.sub(r"\1[key]", ADDRESS.sub("[address]", value))
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value
