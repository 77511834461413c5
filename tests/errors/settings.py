"""myproject's settings with the failing URLs of tests/errors/urls.py, for a web process."""

from myproject.settings import *  # noqa: F403

ROOT_URLCONF = "tests.errors.urls"
