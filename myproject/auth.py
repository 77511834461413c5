"""The project's one authentication backend: Django's ModelBackend behind django-axes' throttle."""

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend


class ThrottledModelBackend(AxesStandaloneBackend, ModelBackend):
    """ModelBackend that refuses a username or client address that failed too often (axes
    raises, Django's authenticate() reports a failure, axes' middleware answers 429).

    One backend rather than axes' usual two: a view that logs a user in without authenticate()
    (accepting an invitation) then needs no `backend` argument."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        AxesStandaloneBackend.authenticate(self, request, username, password, **kwargs)
        return ModelBackend.authenticate(self, request, username, password, **kwargs)
