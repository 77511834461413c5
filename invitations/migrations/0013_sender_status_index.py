import importlib

from django.conf import settings
from django.db import migrations, models

# AddIndex, built CONCURRENTLY on PostgreSQL (writes go on meanwhile), as 0012's indexes.
AddIndexOnline = importlib.import_module("invitations.migrations.0012_indexes_for_a_large_table").AddIndexOnline


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("invitations", "0012_indexes_for_a_large_table"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="invitation",
            index=models.Index(fields=["sender", "status", "-created", "-id"], name="invitation_sender_status_idx"),
        ),
    ]
