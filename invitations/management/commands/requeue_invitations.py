from django.core.management.base import BaseCommand

from invitations import redrive


class Command(BaseCommand):
    help = "Publish again the invitations the channel layer forgot (workers also do this on their own)."

    def handle(self, *args, **options):
        published = redrive.invitations_redrive(limit=10_000)
        self.stdout.write(f"published {published} invitation(s)")
