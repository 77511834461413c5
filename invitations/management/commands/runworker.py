from functools import partial

from channels.management.commands import runworker
from django.conf import settings

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
        self.worker_class = partial(InvitationWorker, concurrency=concurrency)
        super().handle(*args, **options)
