from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from project.core import views as core_views

# settings.py installs the admin as SimpleAdminConfig, so registration happens here, with the
# URLconf, rather than at every function's start-up.
admin.autodiscover()

urlpatterns = [
    path("", core_views.home, name="home"),
    # Our own account flows first, so they take precedence over allauth's defaults.
    path("accounts/", include("project.accounts.urls")),
    path("accounts/", include("project.telegram_accounts.urls")),
    path("accounts/", include("allauth.urls")),
    path("", include("project.notifications.urls")),
    path("", include("project.meetups.urls")),
    path("staff/", include("project.bot.urls")),
    path("admin/", admin.site.urls),
]

if settings.STAGE == "local":
    urlpatterns.append(path("dev/mail/", core_views.dev_mail, name="dev_mail"))
