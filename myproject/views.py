"""The site's own pages around the app: the landing page at / and the error handlers' wiring."""

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

INVITE_PERMISSION = "invitations.add_invitation"


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Where logging in and accepting an invitation land: staff who may invite go on to the board,
    everyone else signed in sees who they are and their groups, never a 403; anonymous users log in."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if request.user.has_perm(INVITE_PERMISSION):
        return redirect("invitations:list")
    return render(request, "home.html", {"groups": request.user.groups.order_by("name")})
