from django.core.exceptions import BadRequest
from django.db import OperationalError
from django.urls import path

from myproject.urls import handler500 as handler500  # handlers are read from the root URLconf
from myproject.urls import urlpatterns as site_urlpatterns


def bad_request(request):
    raise BadRequest("a request this site cannot read")


def broken(request):
    raise RuntimeError("a bug in a view")


def database_away(request):
    raise OperationalError("the database is away")


urlpatterns = [
    *site_urlpatterns,
    path("test-errors/400/", bad_request),
    path("test-errors/500/", broken),
    path("test-errors/503/", database_away),
]
