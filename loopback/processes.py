"""Child processes on loopback, logged to files: shared by the integration tests and the bench."""

import ctypes
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1
# Loaded here, not in the child: between fork and exec the child should only make the call.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_command(port: int) -> list[str]:
    """The Procfile's `web` line as a platform runs it (through a shell, PORT set), on loopback,
    with this Python's scripts first on the PATH."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    line = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("web:"))
    line = line.replace("0.0.0.0", "127.0.0.1")  # noqa: S104 (it is the Procfile's address)
    scripts = shlex.quote(str(Path(sys.executable).parent))
    return ["sh", "-c", f'export PORT={port} PATH={scripts}:"$PATH"; exec {line}']


def wait_for(
    condition: Callable[[], object], *, timeout: float, message: str = "condition", interval: float = 0.05
) -> object:
    """Poll until condition() is truthy; fail after the deadline. No fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True  # 503 still means the server is up
    except OSError:
        return False
    return True


def _die_with_parent() -> None:
    # If the parent is killed outright, its children get SIGTERM instead of living on.
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    """A child process whose output goes to a log file that a failure can show."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path, *, cwd: Path = ROOT):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if _LIBC else None,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], object], *, timeout: float, what: str) -> None:
        """Wait for ready() while the process runs; fail with its log if it exits first."""

        def ready_or_exited() -> object:
            return ready() or self.popen.poll() is not None

        wait_for(ready_or_exited, timeout=timeout, message=f"{self.name} {what}")
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-4000:]}")

    def wait_logged(self, marker: str, *, timeout: float) -> None:
        self.wait_until(lambda: marker in self.output(), timeout=timeout, what=f"to log {marker!r}")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        """Terminate, then kill if it does not exit within 30 s; a no-op once it has exited."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if not self.log.closed:
            self.log.close()
