from channels.management.commands import runworker

from invitations.worker import InvitationWorker


class Command(runworker.Command):
    help = "Run a worker that drains the given channels without hoarding their messages."
    worker_class = InvitationWorker
