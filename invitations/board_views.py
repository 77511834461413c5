"""The staff board's views: the list at /invites/ with its filters and pages, the invite forms
(one address, many), and the actions on one invitation (resend, retry, revoke)."""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from invitations import board, bulk, health, services
from invitations.conf import app_settings
from invitations.forms import BulkInvitationForm, InvitationForm
from invitations.models import EXPIRED, Invitation

Status = Invitation.Status
# The id in the actions' URLs of the template live.js fills in for a row it adds.
PLACEHOLDER_PK = 2147483647
can_invite = permission_required("invitations.add_invitation", raise_exception=True)
# The admin's actions Resend, Retry now and Revoke need the change permission: the board asks
# the same, so one rule says who may act on an invitation, wherever they do it.
CHANGE_PERMISSION = "invitations.change_invitation"
can_change = permission_required(CHANGE_PERMISSION, raise_exception=True)


def _board(request: HttpRequest, status: int = 200, **context) -> HttpResponse:
    query = board.BoardQuery.from_params(request.GET)
    page = board.board_page(query)
    context = {
        "form": InvitationForm(sender=request.user),
        "query": query,
        "page": page,
        "invitations": page.rows,
        "newer_url": page.newer and "?" + query.query_string(after=page.newer),
        "older_url": page.older and "?" + query.query_string(before=page.older),
        "return_query": request.GET.urlencode(),
        "states": board_states(),
        "senders": board.board_senders(),
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
        "placeholder_pk": PLACEHOLDER_PK,
        "live_path": "/" + app_settings.WEBSOCKET_PATH.lstrip("/"),
        "provider_pause": health.provider_pause(),
        "override_recipients": app_settings.OVERRIDE_RECIPIENTS,
        **context,
    }
    return render(request, "invitations/list.html", context, status=status)


def board_states() -> list[tuple[str, str]]:
    """The status filter's choices: the stored statuses, "expired" after "sent"."""
    choices = list(Invitation.Status.choices)
    choices.insert(choices.index((Status.SENT, Status.SENT.label)) + 1, (EXPIRED, gettext("expired")))
    return choices


@login_required
@can_invite
@require_http_methods(["GET", "POST"])
def invitation_list(request: HttpRequest) -> HttpResponse:
    """The board; its invite form posts here, so that a refused address is shown at the field
    on the page the staff member is on, and a reload of it asks to post to this page again."""
    if request.method == "POST":
        return _invite(request, refused=_board)
    return _board(request)


@login_required
@can_invite
@require_http_methods(["GET", "POST"])
def invitation_new(request: HttpRequest) -> HttpResponse:
    """POST email=…: 302 to the board once queued, 400 with the form's errors (tools rely on it)."""
    if request.method == "GET":
        return render(request, "invitations/new.html", {"form": InvitationForm(sender=request.user)})
    return _invite(request, refused=_new_page_refused)


def _new_page_refused(request: HttpRequest, **context) -> HttpResponse:
    return render(request, "invitations/new.html", {"form": context["form"]}, status=400)


def _invite(request: HttpRequest, *, refused: Callable[..., HttpResponse]) -> HttpResponse:
    """Create the invitation of the posted form and redirect to the board, or answer `refused`
    (a page with the form's errors, status 400)."""
    form = InvitationForm(request.POST, sender=request.user)
    if form.is_valid():
        try:
            invitation = form.save()
        except IntegrityError:  # the same address submitted twice at once
            form.add_error("email", gettext("This address already has an open invitation."))
        except services.InvitationRefused:  # the sender's concurrent request took the last of the hour
            form = InvitationForm(request.POST, sender=request.user)
            form.is_valid()  # now says why
        else:
            messages.success(
                request, gettext("Invitation to %(email)s queued for sending.") % {"email": invitation.email}
            )
            return redirect("invitations:list")
    return refused(request, status=400, form=form)


@login_required
@can_invite
@require_http_methods(["GET", "POST"])
def invitation_bulk(request: HttpRequest) -> HttpResponse:
    """GET: the form, with the last POST's results and its rejected addresses in the box to
    correct. POST: invite, keep the results in the session and redirect here (a reload never
    invites again); a form error is a 400 on this page."""
    if request.method == "GET":
        return _bulk_page(request, bulk.results_recall(request.session))
    form = BulkInvitationForm(request.POST, request.FILES, sender=request.user)
    if not form.is_valid():
        return render(request, "invitations/bulk.html", {"bulk_form": form}, status=400)
    data = form.cleaned_data
    results = services.invitations_create_many(
        emails=data["emails"], sender=request.user, groups=data["groups"], language=data["language"]
    )
    kept = bulk.results_kept(typed=data["emails"], results=results)
    queued = sum(result == services.BulkResult.QUEUED for _, result in results)
    text = gettext("%(queued)d of %(count)d invitation(s) queued for sending.")
    messages.success(request, text % {"queued": queued, "count": len(results)})
    if bulk.session_holds_results(request.session):
        bulk.results_remember(request.session, kept)
        return redirect("invitations:bulk")
    # A session kept in a cookie cannot carry them: this answer shows them. (A reload posts
    # again, and every address then answers "already invited": nothing is sent twice.)
    return _bulk_page(request, bulk.results_shown(kept))


def _bulk_page(request: HttpRequest, results: bulk.BulkResults | None) -> HttpResponse:
    form = BulkInvitationForm(sender=request.user, initial={"addresses": bulk.rejected_text(results)})
    return render(request, "invitations/bulk.html", {"bulk_form": form, "results": results})


def _board_url(request: HttpRequest) -> str:
    """The board page the staff member came from: its filters and cursor (only those) kept."""
    query = board.BoardQuery.from_params(request.GET)
    cursor = {"before": query.before} if query.before else {"after": query.after}
    query_string = query.query_string(**cursor)
    return reverse("invitations:list") + (f"?{query_string}" if query_string else "")


@login_required
@can_invite
@can_change
@require_POST
def invitation_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Resend or retry one invitation from the board (revoke: after invitation_revoke's page),
    then back to the same board page with a message."""
    action = board.RowAction(action)
    result = board.invitation_act(invitation_id=pk, action=action, seen=request.POST.get("seen", ""))
    if result.invitation is None:
        raise Http404("No such invitation.")
    email = result.invitation.email
    if result.refusal is None:
        messages.success(request, ACTION_DONE[action] % {"email": email})
    else:
        text = REFUSALS[result.refusal] % {"email": email, "status": result.invitation.status_label()}
        messages.warning(request, gettext("Nothing changed: %(why)s") % {"why": text})
    return redirect(_board_url(request))


@login_required
@can_invite
@can_change
@require_http_methods(["GET", "POST"])
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what is about to be revoked, and a button to confirm (Django's intermediate page
    pattern, without JavaScript); POST: revoke it."""
    if request.method == "POST":
        return invitation_act(request, pk=pk, action=board.RowAction.REVOKE)
    invitation = get_object_or_404(Invitation.objects.select_related("sender"), pk=pk)
    context = {
        "invitation": invitation,
        "revocable": invitation.state in board.RowAction.REVOKE.states,
        "board_url": _board_url(request),
    }
    return render(request, "invitations/revoke.html", context)


ACTION_DONE = {
    board.RowAction.RESEND: gettext_lazy("The invitation to %(email)s goes out again, with a new link."),
    board.RowAction.RETRY: gettext_lazy("The invitation to %(email)s is queued for a retry."),
    board.RowAction.REVOKE: gettext_lazy("The invitation to %(email)s is revoked: its link no longer works."),
}
REFUSALS = {
    board.Refusal.CHANGED: gettext_lazy("the invitation to %(email)s is %(status)s now."),
    board.Refusal.SUPPRESSED: gettext_lazy(
        "%(email)s bounced, complained or opted out: it is not invited again."
    ),
    board.Refusal.TAKEN: gettext_lazy("%(email)s has another open invitation."),
}
