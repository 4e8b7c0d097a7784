"""
Mounted at /accounts/ before allauth's URLs, so these take precedence. Names are allauth's
where the page replaces one of allauth's, so `{% url 'account_login' %}` etc. keep working.
"""

from django.urls import path, re_path

from project.accounts import views

urlpatterns = [
    path("", views.account, name="account"),
    path("login/", views.sign_in, name="account_login"),
    path("login/code/", views.to_sign_in, name="account_request_login_code"),
    path("login/code/confirm/", views.enter_code, name="account_confirm_login_code"),
    path("login/link/<str:token>/", views.confirm_link, name="account_login_link"),
    path("signup/", views.to_sign_in, name="account_signup"),
    # No passwords: allauth's password pages lead back to the account.
    path("password/change/", views.no_passwords, name="account_change_password"),
    path("password/set/", views.no_passwords, name="account_set_password"),
    path("password/reset/", views.no_passwords, name="account_reset_password"),
    re_path(r"^password/reset/.+$", views.no_passwords),
    # allauth's third-party accounts page: Telegram is managed on the account page, and its
    # disconnect form goes through the site's one disconnect flow.
    path("3rdparty/", views.connections, name="socialaccount_connections"),
]
