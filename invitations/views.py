from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required, permission_required
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from invitations import health, services
from invitations.forms import AcceptForm, InvitationForm
from invitations.models import Invitation

RECENT = 50
can_invite = permission_required("invitations.add_invitation", raise_exception=True)


def _board(request: HttpRequest, form: InvitationForm, status: int = 200) -> HttpResponse:
    invitations = Invitation.objects.select_related("sender")[:RECENT]
    return render(request, "invitations/list.html", {"form": form, "invitations": invitations}, status=status)


@login_required
@can_invite
@require_GET
def invitation_list(request: HttpRequest) -> HttpResponse:
    return _board(request, InvitationForm())


@login_required
@can_invite
@require_http_methods(["GET", "POST"])
def invitation_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "invitations/new.html", {"form": InvitationForm()})
    form = InvitationForm(request.POST, sender=request.user)
    if form.is_valid():
        try:
            invitation = form.save()
        except IntegrityError:  # the same address submitted twice at once
            form.add_error("email", "This address already has an open invitation.")
        else:
            messages.success(request, f"Invitation to {invitation.email} queued for sending.")
            return redirect("invitations:list")
    return _board(request, form, status=400)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, key: str) -> HttpResponse:
    invitation = services.invitation_for_key(key=key)  # 404 for an unknown key
    refusal = services.acceptance_refusal(invitation)
    if refusal:
        return render(request, "invitations/gone.html", {"reason": refusal}, status=410)
    form = AcceptForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        user = services.invitation_accept(invitation=invitation, form=form)
        if user is None:  # another request accepted it a moment ago
            return render(request, "invitations/gone.html", {"reason": "accepted"}, status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("invitations:welcome")
    return render(request, "invitations/accept.html", {"form": form, "invitation": invitation})


@login_required
def welcome(request: HttpRequest) -> HttpResponse:
    return render(request, "invitations/welcome.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health.report()
    return JsonResponse(report, status=200 if report["healthy"] else 503)
