"""
The webhook function's URLconf (settings.ROOT_URLCONF when FUNCTION_ROLE=webhook).

The webhook serves no page, but the messages it writes link to the site's pages, and some
flows build those links with reverse(), which loads a URLconf on first use. project/urls.py
needs the admin and allauth's social accounts, which the webhook does not install
(settings.WEBHOOK_APPS), so it reverses through this one: the same includes at the same
prefixes, without the admin and the Telegram sign-in views. Every name here reverses to the
site's own path; tests/bot/test_webhook_role.py checks it, and that a URL added to
project/urls.py is added here too (or is the admin's or Telegram sign-in's).
"""

from django.urls import include, path

from project.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("accounts/", include("project.accounts.urls")),
    path("accounts/", include("allauth.urls")),  # its social-account URLs only come with that app
    path("", include("project.notifications.urls")),
    path("", include("project.meetups.urls")),
    path("staff/", include("project.bot.urls")),
]
