from collections import Counter

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from invitations import services
from invitations.forms import addresses_from_csv


class Command(BaseCommand):
    help = "Invite every address in the `email` column of a CSV file (queued, sent by the workers)."

    def add_arguments(self, parser):
        parser.add_argument("csv_path", help="CSV file with an `email` column")
        parser.add_argument("--sender", help="username recorded as the inviter (no rate limit without one)")

    def handle(self, *args, csv_path, sender=None, **options):
        sender_user = None
        if sender:
            try:
                sender_user = get_user_model().objects.get_by_natural_key(sender)
            except get_user_model().DoesNotExist as error:
                raise CommandError(f"No user named {sender!r}.") from error
        try:
            with open(csv_path, newline="", encoding="utf-8-sig") as handle:
                emails = addresses_from_csv(handle.read())
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {csv_path}: {error}") from error
        except ValidationError as error:
            raise CommandError(f"{csv_path}: {' '.join(error.messages)}") from error
        # The same screen as the staff pages: open invitations, and the sender's hourly limit.
        results = services.invitations_create_many(
            emails=[e for e in emails if e.strip()], sender=sender_user
        )
        for result, count in sorted(Counter(result for _, result in results).items()):
            self.stdout.write(f"{count:7d} {result}")
