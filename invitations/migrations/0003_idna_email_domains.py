"""Write every invitation's domain in its one ASCII (IDNA) form, as the forms now do.

`user@bücher.example` and `user@xn--bcher-kva.example` are one mailbox: of open invitations
that turn out to share one, the oldest stays open and the others are revoked, so that the
unique constraint holds.
"""

from django.db import migrations
from django.utils.encoding import punycode

OPEN = ("pending", "sending", "sent")


def normalized(email: str) -> str:
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    try:
        return f"{local}@{punycode(domain.lower())}"
    except UnicodeError:
        return f"{local}@{domain.lower()}"


def normalize_domains(apps, schema_editor):
    Invitation = apps.get_model("invitations", "Invitation")
    rows = Invitation.objects.order_by("created", "id").values_list("id", "email", "status")
    open_addresses, duplicates, renamed = set(), [], {}
    for pk, email, status in rows.iterator():
        address = normalized(email)
        if status in OPEN and address.lower() in open_addresses:
            duplicates.append(pk)
        elif status in OPEN:
            open_addresses.add(address.lower())
        if address != email:
            renamed[pk] = address
    # Revoked first: a renamed address must not collide with a duplicate still open.
    Invitation.objects.filter(pk__in=duplicates).update(
        status="revoked", last_error="revoked: an older open invitation goes to the same mailbox"
    )
    for pk, address in renamed.items():
        Invitation.objects.filter(pk=pk).update(email=address)


class Migration(migrations.Migration):
    dependencies = [("invitations", "0002_sender_created_index")]

    operations = [migrations.RunPython(normalize_domains, migrations.RunPython.noop)]
