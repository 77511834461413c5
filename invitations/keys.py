"""The key in an accept link, derived as Django's password-reset tokens are.

key = "<id in base 36>-<HMAC-SHA256 of SECRET_KEY over the id and the row's nonce>". The same
invitation sent twice (a worker killed between the server's 250 and the stamp) carries the
same working link; a resend draws a new nonce, which kills the old link; the database alone
cannot make a link; keys made with a secret in SECRET_KEY_FALLBACKS keep working.

The opt-out token in a mail's List-Unsubscribe link is made the same way with a salt of its own
over the id and the address, not the nonce: a resend keeps it working, and it accepts nothing.
"""

import re
from collections.abc import Callable

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import base36_to_int, int_to_base36

from invitations.models import Invitation, key_digest

SALT = "invitations.keys.invitation_key"
OPT_OUT_SALT = "invitations.keys.opt_out_token"
KEY = re.compile(r"([0-9a-z]{1,13})-([0-9a-f]{64})")


def invitation_key(invitation: Invitation) -> str:
    return f"{int_to_base36(invitation.pk)}-{_token(invitation, settings.SECRET_KEY)}"


def invitation_for_key(key: str) -> Invitation | None:
    """The invitation whose link holds `key`, or None for any key that is not one."""
    invitations = Invitation.objects.select_related("sender")
    match = KEY.fullmatch(key)
    if match is None:  # a link mailed before keys were derived: its digest is on the row
        return invitations.filter(key_digest=key_digest(key)).first()
    invitation = invitations.filter(pk=base36_to_int(match.group(1))).first()
    if invitation is None or not invitation.key_nonce:
        return None
    made = _made_with_a_secret(match.group(2), lambda secret: _token(invitation, secret))
    return invitation if made else None


def key_reference(key: str) -> str:
    """What may be kept of a key where the link must not be (a session): the invitation's id
    and the key's SHA-256, from which no working link can be made."""
    match = KEY.fullmatch(key)
    return f"{match.group(1) if match else ''}:{key_digest(key)}"


def invitation_for_reference(reference: str) -> Invitation | None:
    """The invitation whose current link `reference` (from key_reference) was made from, or None."""
    id36, _, digest = reference.partition(":")
    invitations = Invitation.objects.select_related("sender")
    if not id36:  # a link mailed before keys were derived
        return invitations.filter(key_digest=digest).first()
    invitation = invitations.filter(pk=base36_to_int(id36)).first()
    if invitation is None or not invitation.key_nonce:
        return None
    made = _made_with_a_secret(digest, lambda secret: key_digest(f"{id36}-{_token(invitation, secret)}"))
    return invitation if made else None


def opt_out_token(invitation: Invitation) -> str:
    return f"{int_to_base36(invitation.pk)}-{_opt_out_digest(invitation, settings.SECRET_KEY)}"


def invitation_for_opt_out_token(token: str) -> Invitation | None:
    """The invitation whose mail carried the opt-out `token`, or None for any token that is not one."""
    match = KEY.fullmatch(token)
    if match is None:
        return None
    invitation = Invitation.objects.filter(pk=base36_to_int(match.group(1))).first()
    if invitation is None:
        return None
    made = _made_with_a_secret(match.group(2), lambda secret: _opt_out_digest(invitation, secret))
    return invitation if made else None


def _made_with_a_secret(value: str, make: Callable[[str], str]) -> bool:
    """Whether `make(secret)` gives `value` for SECRET_KEY or one of SECRET_KEY_FALLBACKS."""
    secrets_in_use = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return any(constant_time_compare(value, make(secret)) for secret in secrets_in_use)


def _opt_out_digest(invitation: Invitation, secret: str) -> str:
    value = f"{invitation.pk}:{invitation.email.lower()}"
    return salted_hmac(OPT_OUT_SALT, value, secret=secret, algorithm="sha256").hexdigest()


def _token(invitation: Invitation, secret: str) -> str:
    value = f"{invitation.pk}:{invitation.key_nonce}"
    return salted_hmac(SALT, value, secret=secret, algorithm="sha256").hexdigest()
