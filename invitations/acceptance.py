"""Following the link: finding the invitation by its key, and accepting it exactly once."""

import contextlib
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from django.utils import timezone, translation

from invitations import keys, live
from invitations.conf import app_settings
from invitations.models import Invitation
from invitations.signals import invitation_accepted, send_on_commit

Status = Invitation.Status
# Where the accept page keeps what finds the invitation once the link was followed, as Django's
# PasswordResetConfirmView does (the URL then shown, logged and sent as Referer holds no key);
# SHORT_SESSION marks a session that the link began and that ends early for that reason.
SESSION_KEY = "invitation_accept"
SHORT_SESSION = "invitation_accept_short"
SESSION_SALT = "invitations.acceptance.accept_link"


class UsernameTaken(Exception):
    """Another sign-up took the username between the form's check and the save."""


def invitation_for_key(*, key: str) -> Invitation:
    """The invitation a link's key belongs to, or 404: nothing about others is revealed."""
    invitation = keys.invitation_for_key(key)
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def accept_link_remember(session: SessionBase, *, key: str) -> None:
    """Remember in the session which link was followed, never the key itself: a signed,
    short-lived reference from which no link can be made. Mail scanners follow links without
    cookies, one new session each: a session the link begins ends after ACCEPT_SESSION_AGE."""
    if session.is_empty():
        session.set_expiry(app_settings.ACCEPT_SESSION_AGE)
        session[SHORT_SESSION] = True
    session[SESSION_KEY] = signing.TimestampSigner(salt=SESSION_SALT).sign(keys.key_reference(key))


def accept_link_recall(session: SessionBase) -> Invitation | None:
    """The invitation of the link followed in this session, if it was followed recently enough
    and is still that invitation's link; else None."""
    value = session.get(SESSION_KEY)
    if value is None:
        return None
    try:
        signer = signing.TimestampSigner(salt=SESSION_SALT)
        reference = signer.unsign(value, max_age=app_settings.ACCEPT_SESSION_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return None
    return keys.invitation_for_reference(reference)


def accept_link_forget(session: SessionBase) -> None:
    """Forget the link once it was used; a session it began gets the usual age for the login."""
    session.pop(SESSION_KEY, None)
    if session.pop(SHORT_SESSION, False):
        session.set_expiry(None)


def sessions_purge() -> None:
    """Delete expired sessions, as `manage.py clearsessions` does (the workers run it)."""
    with contextlib.suppress(NotImplementedError):  # signed cookies: the server keeps none
        import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


def invitee_language(request: HttpRequest, invitation: Invitation) -> str:
    """The language of the invitee's pages: the one they chose (Django's language cookie, as
    set_language sets it), else the invitation's."""
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen and translation.check_for_language(chosen) and chosen in dict(settings.LANGUAGES):
        return chosen
    return invitation.language_code


def acceptance_refusal(invitation: Invitation) -> str | None:
    """Why this invitation can no longer be accepted ("accepted", "revoked", "opted_out",
    "expired"), or None."""
    if invitation.status in (Status.ACCEPTED, Status.REVOKED, Status.OPTED_OUT):
        return invitation.status
    if invitation.status != Status.SENT or invitation.is_expired():
        return "expired"
    return None


def account_for(invitation: Invitation) -> AbstractBaseUser | None:
    """The user whose e-mail (the user model's e-mail field) is the invited address, matched
    case-insensitively, or None: such a person logs in and accepts, and never gets a second account."""
    user_model = get_user_model()
    lookup = {f"{user_model.get_email_field_name()}__iexact": invitation.email}
    return user_model._default_manager.filter(**lookup).order_by("pk").first()


def invitation_accept(
    *, invitation: Invitation, user: AbstractBaseUser, request: HttpRequest | None = None
) -> bool:
    """Mark the invitation accepted and add its groups to `user`, all or nothing: a new user (not
    saved yet) is saved with them; an existing one (the invited address's account) only joins them.

    Of concurrent calls for one invitation one wins, the others get False. Raises UsernameTaken,
    changing nothing, when a concurrent sign-up saved the same username first."""
    now = timezone.now()
    try:
        with transaction.atomic():
            won = Invitation.objects.accept(invitation.pk, now=now)
            if not won:
                return False
            if user._state.adding:
                user.save()
            if groups := list(invitation.groups.all()):
                user.groups.add(*groups)  # a user model without PermissionsMixin cannot be granted any
    except IntegrityError:
        if type(user)._default_manager.filter(**{user.USERNAME_FIELD: user.get_username()}).exists():
            raise UsernameTaken(user.get_username()) from None
        raise
    invitation.status, invitation.accepted = Status.ACCEPTED, now
    live.invitation_announce(invitation=invitation)
    send_on_commit(invitation_accepted, invitation=invitation, user=user, request=request)
    return True
