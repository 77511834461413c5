from django.urls import path

from invitations import board_views, views

app_name = "invitations"
urlpatterns = [
    path("", board_views.invitation_list, name="list"),
    path("new/", board_views.invitation_new, name="new"),
    path("bulk/", board_views.invitation_bulk, name="bulk"),
    path("<int:pk>/resend/", board_views.invitation_act, {"action": "resend"}, name="resend"),
    path("<int:pk>/retry/", board_views.invitation_act, {"action": "retry"}, name="retry"),
    path("<int:pk>/revoke/", board_views.invitation_revoke, name="revoke"),
    path("accept/set/", views.invitation_accept_form, name="accept-form"),  # before: "set" is no key
    path("accept/<str:key>/", views.invitation_accept, name="accept"),
    path("opt-out/<str:token>/", views.invitation_opt_out, name="opt-out"),
    path("welcome/", views.welcome, name="welcome"),
]
