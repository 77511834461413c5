from collections import Counter
from itertools import islice

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from invitations import services
from invitations.forms import addresses_from_csv

BATCH = 2000  # addresses screened and inserted per transaction: memory stays flat, whatever the file


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
                for _ in addresses_from_csv(handle):  # the whole file first: a bad one changes nothing
                    pass
                handle.seek(0)
                totals = self._import(addresses_from_csv(handle), sender=sender_user)
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {csv_path}: {error}") from error
        except ValidationError as error:
            raise CommandError(f"{csv_path}: {' '.join(error.messages)}") from error
        for result, count in sorted(totals.items()):
            self.stdout.write(f"{count:7d} {result}")

    def _import(self, addresses, *, sender) -> Counter:
        """Batch by batch, each in its own transaction; only the counts of results are kept.
        The same screen as the staff pages: open invitations, and the sender's hourly limit."""
        totals: Counter = Counter()
        addresses = (address for address in addresses if address.strip())
        while batch := list(islice(addresses, BATCH)):
            results = services.invitations_create_many(emails=batch, sender=sender)
            totals.update(result for _, result in results)
        return totals
