"""The bench's world: a PostgreSQL database, Redis keys and processes of its own, all removed at the end."""

import contextlib
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from bench import smtp_sink
from loopback.processes import ROOT, Process, answers, free_port, web_command

PYTHON = sys.executable
PRODUCT_SETTINGS, BENCH_SETTINGS = "myproject.settings", "bench.settings"
STAFF_USER, STAFF_PASSWORD = "bench-staff", "bench-staff-password"  # noqa: S105 - a throwaway database
PG_URL, DATABASE = "postgres://postgres@127.0.0.1:5432", "bench_invitations"
REDIS_URL, CELERY_BROKER_URL = "redis://127.0.0.1:6379/12", "redis://127.0.0.1:6379/11"
PREFIX = f"bench-{os.getpid()}-"  # of every Redis key the bench makes
CELERY_QUEUE = "bench-send-invite"
ENV = {
    "SECRET_KEY": "bench-only-key-not-secret",
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_HSTS_SECONDS": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DATABASE_URL": f"{PG_URL}/{DATABASE}",
    "REDIS_URL": REDIS_URL,
    "CHANNEL_PREFIX": PREFIX,
    "INVITATION_RATE_LIMIT": "1000000000",
    "BENCH_CELERY_BROKER_URL": CELERY_BROKER_URL,
    "BENCH_CELERY_PREFIX": PREFIX,
    "BENCH_CELERY_QUEUE": CELERY_QUEUE,
    "PYTHONUNBUFFERED": "1",
}
# Backlogs are published up front (see bench/settings.py); the product workers of the
# throughput scenarios keep them for the whole run instead of expiring and re-driving them.
QUEUE_KNOBS = {"CHANNEL_EXPIRY": "3600", "INVITATION_REPUBLISH_AFTER": "3600"}
PROJECT_WORKER = [PYTHON, "manage.py", "runworker", "send-invite"]
CELERY_WORKER = [
    # --pool solo: the task runs in the process that reads the queue, one at a time, like the
    # product's worker; prefork -c 1 would add a second process and a pipe hop per task.
    *[PYTHON, "-m", "celery", "-A", "bench.celery_app", "worker", "--pool", "solo", "--concurrency", "1"],
    *["--queues", CELERY_QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat"],
    *["--loglevel", "WARNING"],
]


class Harness:
    """Starts what a scenario needs, resets the state between runs, and cleans up on exit."""

    def __init__(self, log_dir: Path, exit_stack: ExitStack):
        self.log_dir, self.running = log_dir, []
        exit_stack.callback(lambda: self.stop(*reversed(self.running)))
        smtp_port, self.sink_port = free_port(), free_port()
        self.env = {**os.environ, **ENV, "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}"}
        ports = ["--port", str(smtp_port), "--control-port", str(self.sink_port)]
        sink = self.start("smtp-sink", [PYTHON, "-m", "bench.smtp_sink", *ports], self.env)
        sink.wait_logged("smtp sink ready", timeout=30)
        _admin_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        _admin_sql("CREATE DATABASE {}")
        exit_stack.callback(_drop_database)
        exit_stack.callback(delete_redis_keys)
        for command in (["migrate"], ["collectstatic"]):
            manage = [PYTHON, "manage.py", *command, "--noinput", "--verbosity", "0"]
            subprocess.run(manage, cwd=ROOT, env=self.env_for(PRODUCT_SETTINGS), check=True)  # noqa: S603
        os.environ.update(self.env_for(BENCH_SETTINGS))
        import django

        django.setup()
        self.redis, self.broker = redis.Redis.from_url(REDIS_URL), redis.Redis.from_url(CELERY_BROKER_URL)
        _create_staff()

    def env_for(self, settings_module: str, **extra: str) -> dict:
        return {**self.env, "DJANGO_SETTINGS_MODULE": settings_module, **extra}

    def reset(self, *, connection_ms: float = 0, message_ms: float = 0) -> None:
        """An empty invitation table, channel and Celery queue; a sink with these delays and zero counts."""
        from django.db import connection

        with connection.cursor() as cursor:
            # CASCADE: suppressions point at the invitation that bounced; they go too.
            cursor.execute("TRUNCATE invitations_invitation RESTART IDENTITY CASCADE")
        delete_redis_keys()
        smtp_sink.control(self.sink_port, f"SET {connection_ms} {message_ms}")
        smtp_sink.control(self.sink_port, "RESET")

    def sink_stats(self) -> dict:
        return smtp_sink.control(self.sink_port, "STATS")

    def queued(self, system: str) -> int:
        """Messages waiting on the project's channel or in Celery's queue."""
        from django.conf import settings

        if system == "project":
            return self.redis.zcard(PREFIX + settings.INVITATION_CHANNEL)
        return self.broker.llen(PREFIX + CELERY_QUEUE)

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
            self.running.remove(process)

    def start_web(self, settings_module: str, name: str, **extra: str) -> tuple[Process, int]:
        port = free_port()
        env = self.env_for(settings_module, SITE_URL=f"http://127.0.0.1:{port}", **extra)
        process = self.start(name, web_command(port), env)
        process.wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout=60, what="to answer")
        return process, port

    def start_workers(
        self, system: str, count: int, name: str, *, queue_knobs: bool, env: dict | None = None
    ) -> list[Process]:
        """Start `count` workers of "project" or "celery" together, with `env` added to their
        environment, then wait until each is ready."""
        if system == "project":
            env = self.env_for(PRODUCT_SETTINGS, **(QUEUE_KNOBS if queue_knobs else {}), **(env or {}))
            workers = [self.start(f"{name}-{i}", PROJECT_WORKER, env) for i in range(count)]
        else:
            env, hostname = self.env_for(BENCH_SETTINGS, **(env or {})), "bench{}@127.0.0.1"
            workers = [
                self.start(f"{name}-{i}", [*CELERY_WORKER, "-n", hostname.format(i)], env)
                for i in range(count)
            ]
        for worker in workers:
            worker.wait_logged("worker ready", timeout=60)  # both log it: "celery worker ready"
        return workers


def _admin_sql(statement: str) -> None:
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(DATABASE)))


def _drop_database() -> None:
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()
    _admin_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def delete_redis_keys() -> None:
    for url in (REDIS_URL, CELERY_BROKER_URL):
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        keys = list(client.scan_iter(match=PREFIX + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


def _create_staff() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(
        STAFF_USER, "staff@example.com", STAFF_PASSWORD, is_staff=True
    )
    user.user_permissions.add(Permission.objects.get(codename="add_invitation"))
