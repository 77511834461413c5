"""An SMTP sink on loopback that counts what it accepts, with configurable delays.

Run as its own process: `python -m bench.smtp_sink --port 2525 --control-port 2526`.
The delay per new connection is spent in EHLO/HELO (a remote provider's TCP + TLS
handshake); the delay per message is spent in DATA (the provider accepting the mail). Like
the large providers, it offers PIPELINING (RFC 2920); clients without it send as before.
A line protocol on the control port: `SET <connection_ms> <message_ms>`, `RESET`, `STATS`;
each answers one JSON line.
"""

import argparse
import asyncio
import json
import signal
from collections import Counter

from aiosmtpd.smtp import SMTP


class SinkHandler:
    """Accepts every message, after the configured delays, and counts recipients."""

    def __init__(self) -> None:
        self.connection_delay = 0.0
        self.message_delay = 0.0
        self.reset()

    def reset(self) -> None:
        self.connections = 0
        self.accepted = 0
        self.recipients: Counter[str] = Counter()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        await self._greet(session, hostname)
        return [*responses[:-1], "250-PIPELINING", responses[-1]]  # as providers do (RFC 2920)

    async def handle_HELO(self, server, session, envelope, hostname):  # noqa: N802
        await self._greet(session, hostname)
        return f"250 {server.hostname}"

    async def _greet(self, session, hostname: str) -> None:
        self.connections += 1
        session.host_name = hostname
        if self.connection_delay:
            await asyncio.sleep(self.connection_delay)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.message_delay:
            await asyncio.sleep(self.message_delay)
        self.accepted += 1
        self.recipients.update(envelope.rcpt_tos)
        return "250 Message accepted"

    def stats(self) -> dict:
        counts = self.recipients.values()
        return {
            "connections": self.connections,
            "accepted": self.accepted,
            "distinct_recipients": len(self.recipients),
            "duplicates": sum(count - 1 for count in counts if count > 1),
            "connection_delay": self.connection_delay,
            "message_delay": self.message_delay,
        }


def control_command(handler: SinkHandler, line: str) -> dict:
    words = line.split()
    if words[:1] == ["SET"] and len(words) == 3:
        handler.connection_delay, handler.message_delay = (float(word) / 1000 for word in words[1:])
    elif words == ["RESET"]:
        handler.reset()
    elif words != ["STATS"]:
        return {"error": f"unknown command {line!r}"}
    return handler.stats()


async def serve(host: str, port: int, control_port: int) -> None:
    handler = SinkHandler()
    loop = asyncio.get_running_loop()

    def smtp_factory() -> SMTP:
        return SMTP(handler, hostname="bench-sink", data_size_limit=10_000_000, enable_SMTPUTF8=True)

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(json.dumps(control_command(handler, line.decode().strip())).encode() + b"\n")
            await writer.drain()
        writer.close()

    smtp_server = await loop.create_server(smtp_factory, host=host, port=port)
    control_server = await asyncio.start_server(control, host=host, port=control_port)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"smtp sink ready on {host}:{port}, control on {control_port}", flush=True)
    await stopping.wait()
    smtp_server.close()
    control_server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.control_port))


if __name__ == "__main__":
    main()
