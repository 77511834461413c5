"""Baseline for scenario 1: create the invitation and send its mail inside the request."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from bench.baseline import new_key
from invitations import mail
from invitations.forms import InvitationForm
from invitations.models import Invitation

Status = Invitation.Status


@login_required
@permission_required("invitations.add_invitation", raise_exception=True)
@require_POST
def invitation_new_inline(request: HttpRequest) -> HttpResponse:
    """What many apps do: the same form, then SMTP before the response (a new connection each time)."""
    form = InvitationForm(request.POST, sender=request.user)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    key, digest = new_key()
    invitation = Invitation.objects.create(
        email=form.cleaned_data["email"],
        sender=request.user,
        status=Status.SENDING,
        attempts=1,
        key_digest=digest,
    )
    mail.build_message(invitation, key=key).send()
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.SENT, sent=timezone.now())
    messages.success(request, f"Invitation to {invitation.email} sent.")
    return redirect("invitations:list")
