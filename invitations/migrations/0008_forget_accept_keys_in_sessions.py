"""Take the accept keys that earlier releases kept in sessions out of `django_session`.

A followed link used to leave its key in the session, as plain text, for the session's two
weeks. Sessions that hold nothing else (a mail scanner's, a first visit) are deleted; from the
others only the key is removed. Nothing to do when sessions are not kept in the database.
"""

from django.apps import apps as installed_apps
from django.db import migrations

OLD_SESSION_KEY = "invitation_accept_key"


def forget_accept_keys(apps, schema_editor):
    from django.contrib.sessions.backends.db import SessionStore

    if "django_session" not in schema_editor.connection.introspection.table_names():
        return
    try:
        Session = apps.get_model("sessions", "Session")
    except LookupError:
        return
    store = SessionStore()
    for row in Session.objects.using(schema_editor.connection.alias).iterator():
        data = store.decode(row.session_data)
        if OLD_SESSION_KEY not in data:
            continue
        data.pop(OLD_SESSION_KEY)
        if data:
            row.session_data = store.encode(data)
            row.save(update_fields=["session_data"])
        else:
            row.delete()


class Migration(migrations.Migration):
    dependencies = [("invitations", "0007_suppression_lifted")]
    if installed_apps.is_installed("django.contrib.sessions"):
        dependencies.append(("sessions", "0001_initial"))

    operations = [migrations.RunPython(forget_accept_keys, migrations.RunPython.noop)]
