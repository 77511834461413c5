"""A PostgreSQL cluster of a test's own (initdb, pg_ctl): free to stop and restart, unlike the
machine's shared server."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from loopback.processes import free_port

DATABASE = "invitations"


def _bin_dir() -> Path:
    """The server's programs: pg_config knows where they are (Debian keeps them off PATH)."""
    found = shutil.which("pg_config")
    if found:
        return Path(subprocess.check_output([found, "--bindir"], text=True).strip())
    return Path(shutil.which("initdb") or "initdb").parent


class PostgresCluster:
    def __init__(self):
        self.port = free_port()
        self.bin = _bin_dir()
        # PostgreSQL refuses to run as root: then its files and processes belong to "postgres".
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="invitations-pg-"))  # outside root's own tmp
        self.data = self.dir / "data"
        if self.user:
            record = pwd.getpwnam(self.user)
            os.chown(self.dir, record.pw_uid, record.pw_gid)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        options = f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # a test's data
        log = str(self.dir / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop at once, as a maintenance restart does: open connections are cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self._dsn(DATABASE)) as connection:
            return connection.execute(sql).fetchall()

    def log(self) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database} connect_timeout=5"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, cwd=self.dir, capture_output=True, timeout=60)
