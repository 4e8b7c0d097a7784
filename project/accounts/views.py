"""
Thin views over project.accounts.flows.email_sign_in, plus the account page.

allauth's own login, sign-up and password pages are replaced here (these URLs come before
allauth's in project/urls.py): there is one way in by email and no password anywhere.
"""

from __future__ import annotations

import logging

from allauth.account.adapter import get_adapter
from allauth.account.utils import get_next_redirect_url
from allauth.core.exceptions import RateLimited
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from project.accounts.flows.email_sign_in import EmailSignInProcess, SignInUnavailable, WrongCode
from project.accounts.forms import EmailSignInForm, SignInCodeForm

logger = logging.getLogger(__name__)

UNAVAILABLE_MESSAGES = {
    "unknown": "That sign-in link is not valid. Ask for a new email below.",
    "expired": "That sign-in code or link has expired. Ask for a new email below.",
    "used": "That sign-in code or link was already used. Ask for a new email below.",
    "superseded": "A newer sign-in email was sent; use the code or link from that one.",
    "too_many_attempts": "Too many wrong codes. Ask for a new email below.",
}


def _login_url_keeping_next(request) -> str:
    url = reverse("account_login")
    next_url = get_next_redirect_url(request)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request):
    """The one sign-in page: an email form (for new and returning people alike) and Telegram."""
    if request.user.is_authenticated:
        return redirect(get_next_redirect_url(request) or resolve_url(settings.LOGIN_REDIRECT_URL))
    form = EmailSignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        EmailSignInProcess.initiate(
            request=request, email=form.cleaned_data["email"], next_url=get_next_redirect_url(request) or ""
        )
        return redirect("account_confirm_login_code")
    return render(
        request, "accounts/sign_in.html", {"form": form, "next": get_next_redirect_url(request) or ""}
    )


@never_cache
@require_http_methods(["GET", "POST"])
def enter_code(request):
    """Where the code from the email is typed, in the browser that asked for it."""
    process = EmailSignInProcess.from_session(request)
    if process is None:
        return redirect("account_login")
    try:
        process.check_usable()
    except SignInUnavailable as unavailable:
        return _unavailable(request, unavailable)

    form = SignInCodeForm()
    if request.method == "POST" and request.POST.get("action") == "resend":
        try:
            process.resend()
        except RateLimited:
            get_adapter(request).add_message(
                request,
                messages.ERROR,
                message="Too many sign-in emails were asked for. Wait a minute, then ask again.",
            )
        return redirect("account_confirm_login_code")
    if request.method == "POST":
        form = SignInCodeForm(request.POST)
        if form.is_valid():
            try:
                return process.confirm_code(form.cleaned_data["code"])
            except WrongCode as wrong:
                left = wrong.attempts_left
                form.add_error("code", f"That code is not right. {left} {'try' if left == 1 else 'tries'} left.")
            except SignInUnavailable as unavailable:
                return _unavailable(request, unavailable)
    return render(
        request,
        "accounts/enter_code.html",
        {"form": form, "email": process.sign_in.email, "expires_at": process.sign_in.expires_at},
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])  # scanners also send HEAD
def confirm_link(request, token):
    """The link from the email. GET only shows a button; the POST signs in. A scanner that
    fetches the link therefore neither signs anyone in nor uses the link up."""
    try:
        process = EmailSignInProcess.from_link(request, token)
        if request.method == "POST":
            return process.confirm_link()
    except SignInUnavailable as unavailable:
        logger.info("Email sign-in link refused: %s", unavailable.reason)
        return render(
            request,
            "accounts/link_unavailable.html",
            {"reason": unavailable.reason, "message": UNAVAILABLE_MESSAGES[unavailable.reason]},
            status=410 if unavailable.reason != "unknown" else 404,
        )
    return render(
        request, "accounts/confirm_link.html", {"email": process.sign_in.email, "expires_at": process.sign_in.expires_at}
    )


def _unavailable(request, unavailable: SignInUnavailable):
    if unavailable.reason == "too_many_attempts":
        message = get_adapter(request).error_messages["too_many_login_attempts"]
        message = f"{message} {UNAVAILABLE_MESSAGES['too_many_attempts']}"
    else:
        message = UNAVAILABLE_MESSAGES[unavailable.reason]
    messages.error(request, message)
    return redirect("account_login")


def to_sign_in(request):
    """allauth's sign-up and request-a-code pages: the sign-in page is both."""
    return HttpResponseRedirect(_login_url_keeping_next(request))


def no_passwords(request, **kwargs):
    """There are no passwords on this site; allauth's password pages lead back to the account."""
    return redirect("account" if request.user.is_authenticated else "account_login")


@login_required
def account(request):
    return render(request, "accounts/account.html")


@login_required
def connections(request):
    """allauth's "third-party accounts" page. Telegram is this site's only third party and is
    connected and disconnected in the account page's Telegram section, so a GET goes there.
    A POST (allauth's disconnect form) disconnects Telegram for real, through the one
    disconnect flow: allauth's own would delete one SocialAccount and leave the link, so the
    same Telegram would still sign in here."""
    if request.method == "POST":
        from project.telegram_accounts.views import disconnect_view

        return disconnect_view(request)
    return redirect("account")
