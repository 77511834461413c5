"""The project's URLs plus the baseline view of scenario 1."""

from django.urls import path

from bench import views
from myproject.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/inline/new/", views.invitation_new_inline, name="bench-inline-new"),
    *project_urlpatterns,
]
