from django.urls import path

from invitations import views

app_name = "invitations"
urlpatterns = [
    path("", views.invitation_list, name="list"),
    path("new/", views.invitation_new, name="new"),
    path("bulk/", views.invitation_bulk, name="bulk"),
    path("accept/set/", views.invitation_accept_form, name="accept-form"),  # before: "set" is no key
    path("accept/<str:key>/", views.invitation_accept, name="accept"),
    path("opt-out/<str:token>/", views.invitation_opt_out, name="opt-out"),
    path("welcome/", views.welcome, name="welcome"),
]
