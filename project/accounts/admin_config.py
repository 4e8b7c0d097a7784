"""The admin's app config: the admin without autodiscovery (project/urls.py runs it), on
project.accounts.admin_site.StaffAdminSite, whose sign-in is the site's own."""

from django.contrib.admin.apps import SimpleAdminConfig


class StaffAdminConfig(SimpleAdminConfig):
    default_site = "project.accounts.admin_site.StaffAdminSite"
