"""Django's admin headed with this site's name (INVITATION_SITE_NAME) instead of "Django
administration". Set here, in the project: a reusable app must not rename its host's admin."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from invitations.conf import site_name


class SiteAdmin(admin.AdminSite):
    @property
    def site_header(self) -> str:  # read at each request: settings may change (tests)
        return site_name()

    @property
    def site_title(self) -> str:
        return site_name()


class SiteAdminConfig(AdminConfig):
    default_site = "myproject.admin_site.SiteAdmin"
