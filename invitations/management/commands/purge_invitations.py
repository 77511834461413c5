from django.core.management.base import BaseCommand, CommandError

from invitations import retention


class Command(BaseCommand):
    help = (
        "Delete invitations that ended (accepted, revoked, expired, failed, bounced, complained, "
        "opted out) more than N days ago; suppressions stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, required=True, metavar="N")
        parser.add_argument("--dry-run", action="store_true", help="Count them, delete nothing.")

    def handle(self, *args, older_than_days: int, dry_run: bool, **options):
        if older_than_days < 0:
            raise CommandError("--older-than-days must be 0 or more.")
        counts = retention.invitations_purge(older_than_days=older_than_days, dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        by_status = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
        self.stdout.write(
            f"{verb} {counts.total()} invitation(s) that ended more than {older_than_days} day(s) ago"
            + (f": {by_status}" if by_status else "")
        )
