from functools import partial

from channels.management.commands import runworker
from django.db import connections

from invitations import throttle
from invitations.conf import app_settings
from invitations.worker import InvitationWorker


class Command(runworker.Command):
    help = "Run a worker that drains the given channels without hoarding their messages."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=app_settings.WORKER_CONCURRENCY,
            help="Messages sent at once, each over its own SMTP connection (INVITATION_WORKER_CONCURRENCY).",
        )

    def handle(self, *args, concurrency, **options):
        if concurrency < 1:
            raise runworker.CommandError("--concurrency must be at least 1.")
        try:
            throttle.send_gate()
        except ValueError as error:  # INVITATION_SEND_RATE written wrong
            raise runworker.CommandError(str(error)) from error
        # Each consumer keeps its thread, and so its database connection: without a pool they
        # persist across messages, and a pool must hold one per consumer plus the sweep's.
        for database in connections.settings.values():
            pool = database.get("OPTIONS", {}).get("pool")
            if not pool:
                database["CONN_MAX_AGE"] = app_settings.WORKER_CONN_MAX_AGE
            elif isinstance(pool, dict):
                pool["max_size"] = max(pool.get("max_size", 0), concurrency + 1)
        self.worker_class = partial(InvitationWorker, concurrency=concurrency)
        super().handle(*args, **options)
