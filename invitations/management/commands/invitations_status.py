from django.core.management.base import BaseCommand

from invitations import health


class Command(BaseCommand):
    help = "Print the delivery pipeline's health (the same figures as /healthz)."

    def handle(self, *args, **options):
        report = health.report()
        for name, value in report.items():
            self.stdout.write(f"{name:22} {'-' if value is None else value}")
        if not report["healthy"]:
            raise SystemExit(1)
