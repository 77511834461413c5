"""Drop the quotes that a local part does not need, as the forms now do: `"first"@example.com`
and `"\\first"@example.com` are `first@example.com`.

Of open invitations that turn out to share one mailbox, the oldest stays open and the others
are revoked, so that the unique constraint holds; of suppressions of one mailbox, the oldest
stays. Pending invitations to an address the forms now refuse (an address literal such as
`x@[127.0.0.1]`, a dotless domain such as `x@localhost`, a local part that needs its quotes)
are revoked before a worker sends them.
"""

import re

from django.db import migrations

OPEN = ("pending", "sending", "sent")
DOT_ATOM = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*", re.IGNORECASE)
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def normalized(email: str) -> str:
    local, at, domain = email.rpartition("@")
    match = QUOTED.fullmatch(local) if at else None
    if match is None:
        return email
    plain = re.sub(r"\\(.)", r"\1", match.group(1))
    return f"{plain}@{domain}" if DOT_ATOM.fullmatch(plain) else email


def invitable(email: str) -> bool:
    local, _, domain = email.rpartition("@")
    return bool(DOT_ATOM.fullmatch(local)) and "." in domain and not domain.startswith("[")


def unquote_invitations(apps, schema_editor):
    Invitation = apps.get_model("invitations", "Invitation")
    rows = Invitation.objects.order_by("created", "id").values_list("id", "email", "status")
    open_addresses, duplicates, refused, renamed = set(), [], [], {}
    for pk, email, status in rows.iterator():
        address = normalized(email)
        if status in OPEN and address.lower() in open_addresses:
            duplicates.append(pk)
        elif status == "pending" and not invitable(address):
            refused.append(pk)
        elif status in OPEN:
            open_addresses.add(address.lower())
        if address != email:
            renamed[pk] = address
    # Revoked first: a renamed address must not collide with a duplicate still open.
    Invitation.objects.filter(pk__in=duplicates).update(
        status="revoked", last_error="revoked: an older open invitation goes to the same mailbox"
    )
    Invitation.objects.filter(pk__in=refused).update(
        status="revoked", last_error="revoked: the address is not one that is invited any more"
    )
    for pk, address in renamed.items():
        Invitation.objects.filter(pk=pk).update(email=address)


def unquote_suppressions(apps, schema_editor):
    Suppression = apps.get_model("invitations", "Suppression")
    seen, duplicates, renamed = set(), [], {}
    for pk, email in Suppression.objects.order_by("created", "id").values_list("id", "email").iterator():
        address = normalized(email).lower()
        if address in seen:
            duplicates.append(pk)
            continue
        seen.add(address)
        if address != email:
            renamed[pk] = address
    Suppression.objects.filter(pk__in=duplicates).delete()
    for pk, address in renamed.items():
        Suppression.objects.filter(pk=pk).update(email=address)


class Migration(migrations.Migration):
    dependencies = [("invitations", "0005_derived_keys")]

    operations = [
        migrations.RunPython(unquote_invitations, migrations.RunPython.noop),
        migrations.RunPython(unquote_suppressions, migrations.RunPython.noop),
    ]
