"""Start-up refuses a production process whose static files were never collected."""

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.exceptions import ImproperlyConfigured


def require_collected_static_files() -> None:
    """Pages name static files by the hashed names `collectstatic` records in its manifest:
    without it every page would answer 500, so raise at start-up instead."""
    storage = staticfiles_storage
    if isinstance(storage, ManifestFilesMixin) and not storage.manifest_storage.exists(storage.manifest_name):
        raise ImproperlyConfigured(
            f"Static files are not collected in {settings.STATIC_ROOT}: run "
            "`python manage.py collectstatic --noinput` when building (see the README's Operations)."
        )
