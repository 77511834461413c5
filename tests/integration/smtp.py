"""A real SMTP server on loopback (aiosmtpd) that records what it accepted and can be scripted
to answer 4xx/5xx or to stall."""

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage
    at: float = field(default_factory=time.time)  # when the server took it

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


@dataclass
class RecordingHandler:
    """Accepts mail and records it; `replies` maps an address to a forced SMTP reply."""

    received: list[Received] = field(default_factory=list)
    greetings: list[str] = field(default_factory=list)  # the EHLO name of each session, in order
    replies: dict[str, str] = field(default_factory=dict)
    default_reply: str | None = None
    stall_seconds: float = 0.0
    stalled: list[str] = field(default_factory=list)  # recipients of the mails held in a stall now
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        with self.lock:
            self.greetings.append(hostname)
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # as providers do; smtplib ignores it

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self.replies.get(address, self.default_reply)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.stall_seconds:
            with self.lock:
                self.stalled.extend(envelope.rcpt_tos)
            await asyncio.sleep(self.stall_seconds)
            with self.lock:
                for address in envelope.rcpt_tos:
                    self.stalled.remove(address)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def recipients(self) -> list[str]:
        with self.lock:
            return [address for mail in self.received for address in mail.recipients]


def start_smtp_server(
    port: int, handler: RecordingHandler | None = None
) -> tuple[Controller, RecordingHandler]:
    """Serve on `port`; pass the `handler` of a server stopped before to restart it."""
    handler = handler or RecordingHandler(port=port)
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    return controller, handler
