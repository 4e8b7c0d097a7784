"""
The admin signs people in through the site's own sign-in, never with a password.

Django's admin has its own login page (username + password, no rate limit, no lockout).
Here `/admin/login/` (where the admin sends anyone it does not let in) goes to
`/accounts/login/?next=...`, by email code or link or Telegram, and back to the admin page
asked for. Someone signed in without staff rights is told so on the home page rather than
shown a password form. This is Django's documented way to change the default admin site:
INSTALLED_APPS names project.accounts.admin_config.StaffAdminConfig in place of the admin's
own config (kept in its own light module: this one imports the whole admin, and only the
site function, which serves it, should pay for that).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache


class StaffAdminSite(AdminSite):
    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        index = reverse("admin:index", current_app=self.name)
        next_url = request.GET.get(REDIRECT_FIELD_NAME) or request.POST.get(REDIRECT_FIELD_NAME) or index
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            next_url = index
        if request.user.is_authenticated:
            if self.has_permission(request):
                return HttpResponseRedirect(next_url)
            messages.error(request, "This account has no access to the admin.")
            return HttpResponseRedirect(reverse("home"))
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")

    def password_change(self, request, extra_context=None):
        # Nobody has a password (a set one would sign no one in): the account page instead.
        messages.info(request, "There are no passwords here: you sign in with your email or Telegram.")
        return HttpResponseRedirect(reverse("account"))

