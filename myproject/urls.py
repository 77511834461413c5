from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from invitations.views import healthz

handler500 = "invitations.views.server_error"  # a database outage is a clear 503
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="invitations:list", permanent=False)),
    path("invites/", include("invitations.urls")),
    path("anymail/", include("invitations.tracking_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
