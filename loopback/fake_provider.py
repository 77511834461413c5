"""A fake Postmark, SendGrid and Brevo HTTP API on loopback, scripted per recipient, that records
what it accepted. (Their tracking-webhook bodies are built by `provider_webhooks`.)"""

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# "error", "throttle" and "stall" fail (or hold) the whole call, before any address is looked at.
KINDS = ("ok", "invalid", "inactive", "error", "throttle", "stall")
POSTMARK_INACTIVE = "Inactive recipients are ones that have generated a hard bounce or a spam complaint."
POSTMARK_401 = "The Server Token you provided in the X-Postmark-Server-Token request header was invalid."
SENDGRID_401 = "The provided authorization grant is invalid, expired, or revoked"
ENDPOINTS = {  # path: (provider, attribute with its key, header carrying it, its prefix, the 401's words)
    "/email": ("postmark", "postmark_token", "X-Postmark-Server-Token", "", POSTMARK_401),
    "/v3/mail/send": ("sendgrid", "sendgrid_key", "Authorization", "Bearer ", SENDGRID_401),
    "/v3/smtp/email": ("brevo", "brevo_key", "api-key", "", "Key not found"),  # api_url + "smtp/email"
}
BREVO_CODES = {401: "unauthorized", 400: "invalid_parameter", 429: "too_many_requests", 500: "internal_error"}


@dataclass(frozen=True)
class Received:
    """One accepted message: who gets it and the id the sender was told."""

    provider: str  # "postmark", "sendgrid" or "brevo"
    recipients: list[str]  # To, Cc and Bcc that will get it (Postmark leaves out inactive ones)
    subject: str
    message_id: str  # what anymail reports: Postmark's MessageID, SendGrid's anymail_id, Brevo's messageId
    payload: dict | list  # the whole JSON body of the call
    headers: dict[str, str]


class _Dropped(Exception):
    """The fake stopped while a call waited: close the connection without an answer."""


class FakeProvider:
    """Postmark, SendGrid and Brevo (paths in ENDPOINTS) on 127.0.0.1 at `.url`; `replies[address]` or
    `default_reply` picks one of KINDS. `stop()` returns at once, stalled calls get no answer."""

    def __init__(self, *, postmark_token="t0ken", sendgrid_key="SG.key", brevo_key="xkeysib-test"):  # noqa: S107
        self.postmark_token, self.sendgrid_key, self.brevo_key = postmark_token, sendgrid_key, brevo_key
        self.replies: dict[str, str] = {}  # address: one of KINDS; any other address gets default_reply
        self.default_reply, self.retry_after, self.stall_seconds, self.latency_ms = "ok", 2, 30.0, 0
        self.received: list[Received] = []
        self.calls: list[tuple[float, float, int]] = []  # every call: began, answered, HTTP status
        self.url, self._lock, self._stopping = "", threading.Lock(), threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> "FakeProvider":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # port 0: the kernel picks one
        # Daemon handler threads, never joined: a stalled or idle keep-alive call cannot hold up stop().
        self._server.block_on_close, self._server.fake = False, self
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeProvider":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def recipients(self) -> list[str]:
        with self._lock:
            return [address for message in self.received for address in message.recipients]

    def message_ids(self) -> list[str]:
        with self._lock:
            return [message.message_id for message in self.received]

    def message_id_for(self, address: str) -> str | None:
        """The id of the last accepted message to `address`, or None."""
        with self._lock:
            ids = [m.message_id for m in self.received if address.lower() in map(str.lower, m.recipients)]
        return ids[-1] if ids else None

    def answer(self, path: str, headers, data) -> tuple[int, object, dict]:
        """Emulate one call: (status, JSON body or None, response headers)."""
        began = time.time()
        status, body, extra = self._answer(path, headers, data)
        with self._lock:
            self.calls.append((began, time.time(), status))
        return status, body, extra

    def _answer(self, path: str, headers, data) -> tuple[int, object, dict]:
        self.wait(self.latency_ms / 1000)
        if path not in ENDPOINTS:
            return 404, {"ErrorCode": 404, "Message": f"No such endpoint {path}"}, {}
        provider, key, header, prefix, unauthorised = ENDPOINTS[path]
        if (headers.get(header) or "").removeprefix(prefix) != getattr(self, key):
            return 401, _error(provider, 401, unauthorised), {}
        addresses = _addresses(provider, data)
        kinds = {self.reply_for(address) for _, address in addresses}
        if "error" in kinds:
            return 500, _error(provider, 500, "Internal server error"), {}
        if "throttle" in kinds:
            after = {"Retry-After": str(self.retry_after)}  # Brevo documents its own x-sib-ratelimit-*
            after |= {"x-sib-ratelimit-reset": after["Retry-After"]} if provider == "brevo" else {}
            return 429, _error(provider, 429, "Rate limit exceeded"), after
        if "stall" in kinds:
            self.wait(self.stall_seconds)
        invalid = [(field, address) for field, address in addresses if self.reply_for(address) == "invalid"]
        if invalid and provider == "postmark":  # Postmark names the first bad address, the others its field
            return 422, _error(provider, 300, "Invalid '{}' address: '{}'.".format(*invalid[0])), {}
        if invalid:
            return 400, _error(provider, 400, "Does not contain a valid address.", invalid[0][0]), {}
        return getattr(self, f"_{provider}")(data, [address for _, address in addresses], headers)

    def wait(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Dropped

    def reply_for(self, address: str) -> str:
        kind = self.replies.get(address, self.default_reply)
        if kind not in KINDS:
            raise ValueError(f"unknown reply kind {kind!r} for {address}")
        return kind

    def _record(self, provider, recipients, subject, message_id, payload, headers) -> None:
        kept = {name: headers[name] for name in ("Content-Type", "User-Agent") if name in headers}
        with self._lock:
            self.received.append(Received(provider, recipients, subject, message_id, payload, kept))

    def _postmark(self, data: dict, everyone: list[str], headers) -> tuple[int, dict, dict]:
        inactive = [address for address in everyone if self.reply_for(address) == "inactive"]
        found = f"inactive addresses: {', '.join(address.lower() for address in inactive)}."
        if inactive and len(inactive) == len(everyone):
            text = f"You tried to send to a recipient that has been marked as inactive.\nFound {found}\n"
            return 422, {"ErrorCode": 406, "Message": text + POSTMARK_INACTIVE}, {}
        message_id = str(uuid.uuid4())
        kept = [address for address in everyone if address not in inactive]
        self._record("postmark", kept, data.get("Subject", ""), message_id, data, headers)
        text = f"Message OK, but will not deliver to these {found} {POSTMARK_INACTIVE}" if inactive else "OK"
        body = {"To": data.get("To"), "SubmittedAt": datetime.now(UTC).isoformat(), "MessageID": message_id}
        return 200, body | {"ErrorCode": 0, "Message": text}, {}

    def _sendgrid(self, data: dict, everyone: list[str], headers) -> tuple[int, None, dict]:
        # SendGrid takes "inactive" (suppressed) addresses and drops them later, reported by webhook.
        x_message_id = secrets.token_urlsafe(16)
        for p in data["personalizations"]:
            addresses = [r["email"] for field in ("to", "cc", "bcc") for r in p.get(field, [])]
            message_id = p.get("custom_args", {}).get("anymail_id", x_message_id)
            subject = p.get("subject", data.get("subject", ""))
            self._record("sendgrid", addresses, subject, message_id, data, headers)
        return 202, None, {"X-Message-Id": x_message_id}

    def _brevo(self, data: dict, everyone: list[str], headers) -> tuple[int, dict, dict]:
        # Takes blocklisted ("inactive") addresses, reported later by a "blocked" event. (No messageVersions.)
        message_id = f"<{datetime.now(UTC):%Y%m%d%H%M}.{secrets.randbelow(10**12):012d}@smtp-relay.mailin.fr>"
        self._record("brevo", everyone, data.get("subject", ""), message_id, data, headers)
        return 201, {"messageId": message_id}, {}


def _addresses(provider: str, data: dict) -> list[tuple[str, str]]:
    """(field, address) for each recipient of one call, the field named as the provider names it."""
    if provider == "postmark":
        return [(f, a) for f in ("To", "Cc", "Bcc") for _, a in getaddresses([data.get(f, "")]) if a]
    if provider == "brevo":
        return [(f, recipient["email"]) for f in ("to", "cc", "bcc") for recipient in data.get(f, [])]
    return [
        (f"personalizations.{i}.{field}.{j}.email", recipient["email"])
        for i, personalization in enumerate(data["personalizations"])
        for field in ("to", "cc", "bcc")
        for j, recipient in enumerate(personalization.get(field, []))
    ]


def _error(provider: str, code: int, text: str, field: str | None = None) -> dict:
    if provider == "postmark":
        return {"ErrorCode": 10 if code == 401 else code, "Message": text}
    if provider == "brevo":  # a bad address: Brevo names its field in the message
        return {"code": BREVO_CODES[code], "message": f"email is not valid in {field}" if field else text}
    return {"errors": [{"field": field, "message": text, "help": None}]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session uses with the real providers
    disable_nagle_algorithm = True  # else headers and body, written apart, wait ~40 ms for a delayed ACK

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            status, payload, headers = self.server.fake.answer(self.path, self.headers, json.loads(body))
        except _Dropped:
            self.close_connection = True
            return
        content = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format, *args):  # noqa: A002
        """Quiet: tests read `received`, not stderr."""
