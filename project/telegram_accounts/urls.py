"""
Included under "accounts/" before allauth's URLs (no namespace). The four Telegram sign-in
URLs deliberately shadow allauth's own at the same paths, so the names allauth reverses
(telegram_login/callback, openid_connect_login/callback) keep pointing at the same addresses.
"""

from django.urls import path

from allauth.socialaccount import app_settings as socialaccount_settings

from project.telegram_accounts import conf, views

_oidc = f"{socialaccount_settings.OPENID_CONNECT_URL_PREFIX}/{conf.OIDC_PROVIDER_ID}" if socialaccount_settings.OPENID_CONNECT_URL_PREFIX else conf.OIDC_PROVIDER_ID

urlpatterns = [
    path("telegram/login/", views.legacy_login_view, name="telegram_legacy_login"),
    path("telegram/login/callback/", views.legacy_callback_view, name="telegram_legacy_callback"),
    path(f"{_oidc}/login/", views.oidc_login_view, name="telegram_oidc_login"),
    path(f"{_oidc}/login/callback/", views.oidc_callback_view, name="telegram_oidc_callback"),
    path("telegram/disconnect/", views.disconnect_view, name="telegram_disconnect"),
    # One tap from Telegram: login_url buttons and the Mini App (the bot's menu button).
    path("telegram/button/", views.login_url_view, name="telegram_login_url"),
    path("telegram/continue/", views.one_tap_choice_view, name="telegram_one_tap_choice"),
    path("telegram/app/", views.mini_app_view, name="telegram_mini_app"),
    path("telegram/app/theme.css", views.mini_app_theme_view, name="telegram_mini_app_theme"),
]
