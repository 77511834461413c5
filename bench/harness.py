"""The bench's world: a PostgreSQL database, Redis keys and processes of its own, all removed at the end."""

import contextlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from bench.procs import ROOT, Process, Processes, SmtpSink, free_port, wait_for

PYTHON = sys.executable
PRODUCT_SETTINGS = "myproject.settings"
BENCH_SETTINGS = "bench.settings"
CONCURRENCY_ENV = "INVITATION_WORKER_CONCURRENCY"
STAFF_USER, STAFF_PASSWORD = "bench-staff", "bench-staff-password"  # noqa: S105 - a throwaway database
CELERY_QUEUE = "bench-send-invite"
# Backlogs are published up front (see bench/settings.py); the product workers of the
# throughput scenarios keep them for the whole run instead of expiring and re-driving them.
QUEUE_KNOBS = {"CHANNEL_EXPIRY": "3600", "INVITATION_REPUBLISH_AFTER": "3600"}


@dataclass
class Config:
    repeats: int
    sizes: dict
    scenarios: list[int]
    log_dir: Path
    pg_url: str = "postgres://postgres@127.0.0.1:5432"
    database: str = "bench_invitations"
    redis_url: str = "redis://127.0.0.1:6379/12"
    celery_broker_url: str = "redis://127.0.0.1:6379/11"
    prefix: str = field(default_factory=lambda: f"bench-{os.getpid()}-")
    queue_knobs: bool = True


class Harness:
    """Starts what a scenario needs and resets the state between runs."""

    def __init__(self, config: Config, exit_stack: ExitStack):
        self.config = config
        self.processes = Processes(config.log_dir)
        exit_stack.callback(self.processes.stop_all)
        self.env = self._base_env()
        self.sink = SmtpSink(self.processes, PYTHON, self.env_for(BENCH_SETTINGS))
        self.env["EMAIL_URL"] = f"smtp://127.0.0.1:{self.sink.port}"
        self._create_database()
        exit_stack.callback(self._drop_database)
        exit_stack.callback(self._delete_redis_keys)
        os.environ.update(self.env_for(BENCH_SETTINGS))
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--verbosity", "0"]):
            self.manage(command)
        import django

        django.setup()
        self.redis = redis.Redis.from_url(config.redis_url)
        self.broker = redis.Redis.from_url(config.celery_broker_url)
        self._create_staff()

    def _base_env(self) -> dict:
        config = self.config
        return {
            **os.environ,
            "SECRET_KEY": "bench-only-key-not-secret",
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"{config.pg_url}/{config.database}",
            "REDIS_URL": config.redis_url,
            "CHANNEL_PREFIX": config.prefix,
            "INVITATION_RATE_LIMIT": "1000000000",
            "BENCH_CELERY_BROKER_URL": config.celery_broker_url,
            "BENCH_CELERY_PREFIX": config.prefix,
            "BENCH_CELERY_QUEUE": CELERY_QUEUE,
            "PYTHONUNBUFFERED": "1",
        }

    def env_for(self, settings_module: str, **extra: str) -> dict:
        return {**self.env, "DJANGO_SETTINGS_MODULE": settings_module, **extra}

    def manage(self, command: list[str]) -> None:
        subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", *command], cwd=ROOT, env=self.env_for(PRODUCT_SETTINGS), check=True
        )

    # --- database and Redis ---------------------------------------------------------------

    def _admin_sql(self, statement: sql.Composable) -> None:
        with psycopg.connect(f"{self.config.pg_url}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def _create_database(self) -> None:
        name = sql.Identifier(self.config.database)
        self._admin_sql(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        self._admin_sql(sql.SQL("CREATE DATABASE {}").format(name))

    def _drop_database(self) -> None:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        self._admin_sql(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.config.database))
        )

    def _delete_redis_keys(self) -> None:
        for url in (self.config.redis_url, self.config.celery_broker_url):
            client = redis.Redis.from_url(url, socket_connect_timeout=5)
            keys = list(client.scan_iter(match=self.config.prefix + "*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
            client.close()

    def _create_staff(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission

        user = get_user_model().objects.create_user(
            STAFF_USER, "staff@example.com", STAFF_PASSWORD, is_staff=True
        )
        user.user_permissions.add(Permission.objects.get(codename="add_invitation"))

    def reset(self) -> None:
        """An empty invitation table, channel and Celery queue, and a sink with zero counts."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE invitations_invitation RESTART IDENTITY")
        self._delete_redis_keys()

    def channel_depth(self) -> int:
        from django.conf import settings

        return self.redis.zcard(self.config.prefix + settings.INVITATION_CHANNEL)

    def celery_depth(self) -> int:
        return self.broker.llen(self.config.prefix + CELERY_QUEUE)

    # --- processes --------------------------------------------------------------------------

    def start_web(self, settings_module: str, name: str) -> tuple[Process, int]:
        port = free_port()
        env = self.env_for(settings_module, SITE_URL=f"http://127.0.0.1:{port}")
        daphne = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "myproject.asgi:application"]
        process = self.processes.start(name, daphne, env)
        wait_for(
            lambda: _answers(f"http://127.0.0.1:{port}/healthz") or process.popen.poll() is not None,
            timeout=60,
            message=f"{name} on port {port}",
        )
        if process.popen.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{process.output()[-3000:]}")
        return process, port

    def launch_workers(self, system: str, count: int, name: str, *, queue_knobs: bool) -> list[Process]:
        """Start `count` workers without waiting for them (see wait_ready)."""
        if system == "project":
            extra = QUEUE_KNOBS if queue_knobs and self.config.queue_knobs else {}
            env = self.env_for(PRODUCT_SETTINGS, **extra)
            args = [PYTHON, "manage.py", "runworker", "send-invite"]
            return [self.processes.start(f"{name}-{i}", args, env) for i in range(count)]
        env = self.env_for(BENCH_SETTINGS)
        return [
            self.processes.start(
                f"{name}-{i}", [*celery_worker_args(), "--hostname", f"bench{i}@127.0.0.1"], env
            )
            for i in range(count)
        ]

    def start_workers(self, system: str, count: int, name: str, *, queue_knobs: bool) -> list[Process]:
        workers = self.launch_workers(system, count, name, queue_knobs=queue_knobs)
        wait_ready(workers, system)
        return workers


def celery_worker_args() -> list[str]:
    # --pool solo: the task runs in the process that reads the queue, one at a time (the
    # issue's "concurrency 1"); prefork -c 1 would add a second process and a pipe hop per task.
    return [
        *[PYTHON, "-m", "celery", "-A", "bench.celery_app", "worker", "--pool", "solo", "--concurrency", "1"],
        *["--queues", CELERY_QUEUE, "--without-gossip", "--without-mingle", "--without-heartbeat"],
        *["--loglevel", "WARNING"],
    ]


def wait_ready(workers: list[Process], system: str) -> None:
    marker = "worker ready" if system == "project" else "celery worker ready"
    for worker in workers:
        worker.wait_ready(marker, timeout=60)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback
    except urllib.error.HTTPError:
        return True  # 503 still means the server is up
    except OSError:
        return False
    return True
