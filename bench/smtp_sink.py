"""An SMTP sink on loopback that counts what it accepts, with configurable delays.

Run as its own process: `python -m bench.smtp_sink --port 2525 --control-port 2526`.
The delay per connection is spent in EHLO (a remote provider's TCP + TLS handshake), the
delay per message in DATA. The control port speaks lines, `SET <connection_ms> <message_ms>`,
`RESET` and `STATS`, each answered by one JSON line (see `control`).
"""

import argparse
import asyncio
import json
import signal
import socket
from collections import Counter

from aiosmtpd.smtp import SMTP


class SinkHandler:
    """Accepts every message, after the configured delays, and counts recipients."""

    def __init__(self) -> None:
        self.connection_delay = self.message_delay = 0.0
        self.reset()

    def reset(self) -> None:
        self.connections = self.accepted = 0
        self.recipients: Counter[str] = Counter()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.connections += 1
        session.host_name = hostname
        await asyncio.sleep(self.connection_delay)
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        await asyncio.sleep(self.message_delay)
        self.accepted += 1
        self.recipients.update(envelope.rcpt_tos)
        return "250 Message accepted"

    def command(self, line: str) -> dict:
        words = line.split()
        if words[:1] == ["SET"] and len(words) == 3:
            self.connection_delay, self.message_delay = (float(word) / 1000 for word in words[1:])
        elif words == ["RESET"]:
            self.reset()
        elif words != ["STATS"]:
            return {"error": f"unknown command {line!r}"}
        return {
            "connections": self.connections,
            "accepted": self.accepted,
            "distinct_recipients": len(self.recipients),
            "duplicates": sum(count - 1 for count in self.recipients.values()),
        }


def control(port: int, line: str) -> dict:
    """Send one command to a running sink's control port and return its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(line.encode() + b"\n")
        answer = json.loads(sock.makefile("rb").readline())
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer


async def serve(port: int, control_port: int) -> None:
    handler = SinkHandler()
    loop = asyncio.get_running_loop()

    async def on_control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(json.dumps(handler.command(line.decode().strip())).encode() + b"\n")
            await writer.drain()
        writer.close()

    smtp = await loop.create_server(lambda: SMTP(handler, hostname="bench-sink"), "127.0.0.1", port)
    controls = await asyncio.start_server(on_control, "127.0.0.1", control_port)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    print(f"smtp sink ready on 127.0.0.1:{port}, control on {control_port}", flush=True)
    await stopping.wait()
    smtp.close()
    controls.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.control_port))
