from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    # Where an accepted invitation lands (INVITATIONS["ACCEPT_REDIRECT_URL"]'s default, "/").
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("team/invitations/", include("invitations.urls")),
]
