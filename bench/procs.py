"""Child processes of the bench: started on loopback, logged to files, always stopped."""

import ctypes
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], *, timeout: float, message: str, interval: float = 0.05):
    """Poll until condition() is truthy; raise after the deadline. No fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def _die_with_parent() -> None:
    # If the runner itself is killed, its children get SIGTERM instead of living on.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    """A child process whose output goes to a log file."""

    def __init__(self, name: str, args: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("ab")
        self.offset = self.log.tell()  # before the child starts writing
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        """What this process has logged (the log may be shared by earlier runs: read from our start)."""
        if not self.log.closed:
            self.log.flush()
        with self.log_path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")

    def wait_ready(self, marker: str, *, timeout: float = 60) -> None:
        wait_for(
            lambda: marker in self.output() or self.popen.poll() is not None,
            timeout=timeout,
            message=f"{self.name} to log {marker!r}",
        )
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; a no-op once it has exited."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if not self.log.closed:
            self.log.close()


class Processes:
    """Every child the runner started, so that all of them are stopped at the end."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: list[Process] = []

    def start(self, name: str, args: list[str], env: dict) -> Process:
        process = Process(name, args, env, self.log_dir)
        self.running.append(process)
        return process

    def stop(self, *processes: Process) -> None:
        for process in processes:  # signal all first: they wind down in parallel
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in processes:
            process.stop()
            if process in self.running:
                self.running.remove(process)

    def stop_all(self) -> None:
        self.stop(*reversed(self.running))


class SmtpSink:
    """Client of the sink's control port (see bench/smtp_sink.py)."""

    def __init__(self, processes: Processes, python: str, env: dict):
        self.port, self.control_port = free_port(), free_port()
        args = [python, "-m", "bench.smtp_sink", "--port", str(self.port)]
        self.process = processes.start("smtp-sink", [*args, "--control-port", str(self.control_port)], env)
        self.process.wait_ready("smtp sink ready", timeout=30)

    def command(self, line: str) -> dict:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=10) as sock:
            sock.sendall(line.encode() + b"\n")
            answer = sock.makefile("rb").readline()
        result = json.loads(answer)
        if "error" in result:
            raise RuntimeError(result["error"])
        return result

    def configure(self, *, connection_ms: float, message_ms: float) -> None:
        self.command(f"SET {connection_ms} {message_ms}")
        self.command("RESET")

    def stats(self) -> dict:
        return self.command("STATS")


class RssSampler:
    """Samples the resident memory of some processes (and their children) until stopped."""

    def __init__(self, pids: list[int], interval: float = 0.05):
        self.processes = [psutil.Process(pid) for pid in pids]
        self.interval = interval
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> int:
        total = 0
        for process in self.processes:
            try:
                family = [process, *process.children(recursive=True)]
                total += sum(member.memory_info().rss for member in family)
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self._sample())
            self.done.wait(self.interval)

    def now_mb(self) -> float:
        return self._sample() / 2**20

    def stop(self) -> float:
        """Stop sampling; return the peak in MiB."""
        self.done.set()
        self.thread.join(timeout=5)
        return self.peak / 2**20


# The servers the bench shares with the machine, by role: the name their processes run as.
SHARED_SERVERS = {"postgresql": "postgres", "redis": "redis-server"}


def _cpu_by_process() -> Iterator[tuple[dict, tuple[int, float], float]]:
    """Each process's info, its identity (pid and start time) and its CPU seconds so far."""
    for process in psutil.process_iter(["pid", "name", "cpu_times", "create_time"]):
        info = process.info
        if info["cpu_times"] is not None:
            yield info, (info["pid"], info["create_time"]), info["cpu_times"].user + info["cpu_times"].system


def _used_since(before: dict[tuple[int, float], float], after: dict[tuple[int, float], float]) -> float:
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


class ForeignLoad:
    """CPU used by processes the bench did not start (other jobs on the machine), over an interval.

    PostgreSQL and Redis serve the bench and others alike, so they are left out of both sides.
    Processes that start and end within the interval are not seen: this is a lower bound.
    """

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.before = self._snapshot()

    @staticmethod
    def _snapshot() -> dict[tuple[int, float], float]:
        ours = {psutil.Process().pid, *(child.pid for child in psutil.Process().children(recursive=True))}
        return {
            key: cpu
            for info, key, cpu in _cpu_by_process()
            if info["pid"] not in ours
            and not any(name in (info["name"] or "") for name in SHARED_SERVERS.values())
        }

    def cores(self) -> float:
        """Average number of cores the other processes kept busy since this object was made."""
        return _used_since(self.before, self._snapshot()) / max(time.monotonic() - self.began, 1e-9)


class MachineBusy:
    """Cores the whole machine kept busy over an interval: every process, the bench's own too.

    Near the number of cores, the figure measured is the machine's limit, not the system's.
    """

    def __init__(self) -> None:
        self.began, self.idle_before = time.monotonic(), self._idle()

    @staticmethod
    def _idle() -> float:
        times = psutil.cpu_times()  # summed over all cores
        return times.idle + getattr(times, "iowait", 0.0)

    def cores(self) -> float:
        return self.cpu_seconds() / max(time.monotonic() - self.began, 1e-9)

    def cpu_seconds(self) -> float:
        """Busy CPU time of the whole machine since the start, summed over its cores."""
        elapsed = time.monotonic() - self.began
        return psutil.cpu_count() * elapsed - (self._idle() - self.idle_before)


class CpuByRole:
    """CPU time of each role (the workers, the SMTP sink, PostgreSQL, Redis) over an interval.

    Tells whose CPU a mail costs: a remote SMTP provider's would not be this machine's.
    Processes that end within the interval are not seen.
    """

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, dict[tuple[int, float], float]]:
        seen: dict[str, dict[tuple[int, float], float]] = {role: {} for role in [*self.pids, *SHARED_SERVERS]}
        role_of = {pid: role for role, pids in self.pids.items() for pid in pids}
        for info, key, cpu in _cpu_by_process():
            role = role_of.get(info["pid"]) or next(
                (role for role, name in SHARED_SERVERS.items() if name in (info["name"] or "")), None
            )
            if role:
                seen[role][key] = cpu
        return seen

    def seconds(self) -> dict[str, float]:
        after = self._snapshot()
        return {role: _used_since(self.before[role], processes) for role, processes in after.items()}


class PgConnections:
    """Samples how many PostgreSQL connections a database has, and keeps the peak."""

    def __init__(self, server_url: str, database: str, interval: float = 0.1):
        import psycopg

        self.connection = psycopg.connect(f"{server_url}/postgres", autocommit=True, connect_timeout=5)
        self.database, self.interval, self.peak = database, interval, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
        while not self.done.is_set():
            self.peak = max(self.peak, self.connection.execute(query, [self.database]).fetchone()[0])
            self.done.wait(self.interval)

    def stop(self) -> int:
        self.done.set()
        self.thread.join(timeout=5)
        self.connection.close()
        return self.peak
