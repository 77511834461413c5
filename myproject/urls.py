from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from invitations.views import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="invitations:list", permanent=False)),
    path("invites/", include("invitations.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
