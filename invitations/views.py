from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required, permission_required
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from invitations import health, services
from invitations.forms import AcceptForm, BulkInvitationForm, InvitationForm
from invitations.models import Invitation

RECENT = 50
can_invite = permission_required("invitations.add_invitation", raise_exception=True)


def _board(request: HttpRequest, status: int = 200, **context) -> HttpResponse:
    context = {
        "form": InvitationForm(),
        "bulk_form": BulkInvitationForm(),
        "invitations": Invitation.objects.select_related("sender")[:RECENT],
        **context,
    }
    return render(request, "invitations/list.html", context, status=status)


@login_required
@can_invite
@require_GET
def invitation_list(request: HttpRequest) -> HttpResponse:
    return _board(request)


@login_required
@can_invite
@require_POST
def invitation_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkInvitationForm(request.POST, request.FILES)
    if not form.is_valid():
        return _board(request, status=400, bulk_form=form)
    results = services.invitations_create_many(emails=form.cleaned_data["emails"], sender=request.user)
    queued = sum(result == services.BulkResult.QUEUED for _, result in results)
    messages.success(request, f"{queued} of {len(results)} invitation(s) queued for sending.")
    return _board(request, bulk_results=results)


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
    return _board(request, status=400, form=form)


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
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
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
