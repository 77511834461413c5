from functools import partial

from channels.management.commands import runworker
from django.conf import settings
from django.db import connections

from invitations.worker import InvitationWorker


class Command(runworker.Command):
    help = "Run a worker that drains the given channels without hoarding their messages."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.INVITATION_WORKER_CONCURRENCY,
            help="Messages handled at once, each over its own SMTP connection "
            "(default: INVITATION_WORKER_CONCURRENCY).",
        )

    def handle(self, *args, concurrency, **options):
        if concurrency < 1:
            raise runworker.CommandError("--concurrency must be at least 1.")
        # Each consumer keeps one thread for its life, so unlike the web process the worker
        # can keep its connections open across messages (a pool already does that).
        for database in connections.settings.values():
            if not database.get("OPTIONS", {}).get("pool"):
                database["CONN_MAX_AGE"] = settings.WORKER_CONN_MAX_AGE
        self.worker_class = partial(InvitationWorker, concurrency=concurrency)
        super().handle(*args, **options)
