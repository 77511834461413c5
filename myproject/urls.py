from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from invitations.views import healthz, metrics_view
from myproject.views import home

handler500 = "invitations.views.server_error"  # a database outage is a clear 503
urlpatterns = [
    path("", home, name="home"),
    path("invites/", include("invitations.urls")),
    path("anymail/", include("invitations.tracking_urls")),
    # Log in and out only: no password reset, whose anonymous POST sends a mail from inside the
    # request (a mail bomb, and a stalled SMTP server holds the request). Staff accounts are
    # managed by admins, who set a forgotten password in the admin.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # 404 unless METRICS_TOKEN is set
]
