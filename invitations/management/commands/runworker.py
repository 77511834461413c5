import gc
import sys
from functools import partial

from channels.management.commands import runworker
from django.conf import settings
from django.db import connections

from invitations.worker import InvitationWorker

# A consumer whose SMTP or database reply has come in waits for the GIL until the thread
# running lets go of it: at most the switch interval, 5 ms by default. The worker's threads
# mostly wait on the network, so it hands the GIL on sooner. Two workers at SMTP 20 ms: 356
# and 367 -> 388 and 393 mails/s, using less CPU; one worker, a drain at SMTP 0 ms, a slow
# provider and commit-to-sent latency unchanged (bench scenarios 2-4, runs alternating).
SWITCH_INTERVAL = 0.001


def freeze_startup_objects() -> None:
    """Keep what start-up made (Django, the apps: about 118,000 objects) out of every garbage
    collection. They live as long as the process, yet each full collection walked them all:
    a pause of about 95 ms for every consumer at once, for nothing."""
    gc.collect()
    gc.freeze()


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
        # Each consumer keeps one thread, and so one database connection, for its life: unlike
        # the web process the worker keeps connections open across messages, and a pool must
        # hold one per consumer plus the sweep's.
        for database in connections.settings.values():
            pool = database.get("OPTIONS", {}).get("pool")
            if not pool:
                database["CONN_MAX_AGE"] = settings.WORKER_CONN_MAX_AGE
            elif isinstance(pool, dict):
                pool["max_size"] = max(pool.get("max_size", 0), concurrency + 1)
        sys.setswitchinterval(SWITCH_INTERVAL)
        freeze_startup_objects()
        self.worker_class = partial(InvitationWorker, concurrency=concurrency)
        super().handle(*args, **options)
