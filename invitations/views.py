import secrets
import sys

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from invitations import acceptance, health, keys, metrics, services
from invitations.conf import app_settings, site_name
from invitations.forms import accept_form_class
from invitations.models import Invitation


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, key: str) -> HttpResponse:
    """The mailed link. A GET remembers the link in the session (not the key) and redirects to
    a key-less URL; it never consumes the invitation (mail scanners prefetch links)."""
    invitation = acceptance.invitation_for_key(key=key)  # 404 for an unknown key
    with translation.override(acceptance.invitee_language(request, invitation)):
        if request.method == "POST":
            return _accept(request, invitation)
        if refusal := acceptance.acceptance_refusal(invitation):
            return render(request, "invitations/gone.html", {"reason": refusal}, status=410)
    acceptance.accept_link_remember(request.session, key=key)
    return redirect("invitations:accept-form")


@never_cache
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def invitation_accept_form(request: HttpRequest) -> HttpResponse:
    invitation = acceptance.accept_link_recall(request.session)
    if invitation is None:  # no link followed in this browser lately (or cookies are off)
        return render(request, "invitations/gone.html", {"reason": "no-link"}, status=404)
    with translation.override(acceptance.invitee_language(request, invitation)):
        return _accept(request, invitation)


def _accept(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    if refusal := acceptance.acceptance_refusal(invitation):
        return render(request, "invitations/gone.html", {"reason": refusal}, status=410)
    if (account := acceptance.account_for(invitation)) is not None:
        return _accept_as(request, invitation, account)
    form_class = accept_form_class()
    form = form_class(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        try:
            accepted = acceptance.invitation_accept(invitation=invitation, user=user, request=request)
        except acceptance.UsernameTaken:  # saved by another sign-up since the form looked
            form = form_class(request.POST, invitation=invitation)
            form.is_valid()  # now says "A user with that username already exists."
        else:
            if not accepted:  # another request accepted it a moment ago
                return render(request, "invitations/gone.html", {"reason": "accepted"}, status=410)
            acceptance.accept_link_forget(request.session)
            login(request, user)
            text = gettext("Welcome, %(username)s! Your account is ready and you are logged in.")
            messages.success(request, text % {"username": user.get_username()})
            return redirect(app_settings.ACCEPT_REDIRECT_URL)
    context = {"form": form, "invitation": invitation, "site_name": site_name()}
    return render(request, "invitations/accept.html", context)


def _accept_as(request: HttpRequest, invitation: Invitation, account) -> HttpResponse:
    """The invited address has an account: its owner logs in (and comes back here), then
    accepts with one POST. Nobody gets a second account; anyone else changes nothing."""
    context = {"invitation": invitation, "site_name": site_name(), "groups": list(invitation.groups.all())}
    if not request.user.is_authenticated:
        login_url = redirect_to_login(reverse("invitations:accept-form")).url
        return render(
            request, "invitations/accept_account.html", {**context, "state": "log-in", "login_url": login_url}
        )
    if request.user.pk != account.pk:
        return render(
            request, "invitations/accept_account.html", {**context, "state": "other-account"}, status=403
        )
    if request.method == "POST":
        if not acceptance.invitation_accept(invitation=invitation, user=request.user, request=request):
            return render(request, "invitations/gone.html", {"reason": "accepted"}, status=410)
        acceptance.accept_link_forget(request.session)
        messages.success(
            request, gettext("You accepted the invitation to join %(site)s.") % {"site": site_name()}
        )
        return redirect(app_settings.ACCEPT_REDIRECT_URL)
    return render(request, "invitations/accept_account.html", {**context, "state": "accept"})


@csrf_exempt  # RFC 8058: mail clients POST without cookies or a token; the token is the check
@never_cache
@require_http_methods(["GET", "POST"])
def invitation_opt_out(request: HttpRequest, token: str) -> HttpResponse:
    """The mail's List-Unsubscribe link. A GET asks to confirm and changes nothing (mail
    scanners prefetch links); a POST, one click in the mail client or the page's button, opts
    the address out."""
    invitation = keys.invitation_for_opt_out_token(token)
    if invitation is None:
        raise Http404("No such link.")
    context = {"site_name": site_name(), "email": invitation.email}
    if request.method == "POST":
        services.invitation_opt_out(invitation=invitation)
        return render(request, "invitations/opted_out.html", context)
    return render(request, "invitations/opt_out.html", context)


def welcome(request: HttpRequest) -> HttpResponse:
    """The page that once greeted a new account, kept for links to it: the greeting is now a
    message on the host's landing page (INVITATIONS["ACCEPT_REDIRECT_URL"])."""
    return redirect(app_settings.ACCEPT_REDIRECT_URL)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health.report()
    return JsonResponse(report, status=200 if report["healthy"] else 503)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape: 404 unless INVITATIONS["METRICS_TOKEN"] is set, 401 without a bearer
    token, 403 with another one (compared in constant time)."""
    token = app_settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not secrets.compare_digest(presented.strip().encode(), token.encode()):
        return HttpResponse("Wrong token.\n", status=403, content_type="text/plain")
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django's page, except that a database that cannot be reached is a 503 that
    says to try again. Renders without the request: its session and user need the database."""
    if isinstance(sys.exc_info()[1], health.DATABASE_AWAY):
        response = HttpResponse(render_to_string("invitations/503.html"), status=503)
        response["Retry-After"] = "30"
        return response
    return defaults.server_error(request)
