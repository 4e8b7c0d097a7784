"""
Email sign-in: one email carrying a short code and a link, for new and returning people.

The person types an email. Whether or not an account uses it, the same email goes out and
the same page follows. The code, typed in the browser that asked for it, signs in; the link,
opened in any browser, shows a page whose button (a POST) signs in, so a mail scanner that
fetches the link signs nobody in and burns nothing. Code and link are one sign-in: using
either ends both. The first successful sign-in for an address creates the account, with the
address verified; before that, no account exists.

How this sits on allauth's login-by-code machinery
--------------------------------------------------
allauth's `LoginCodeVerificationProcess` (allauth/account/internal/flows/login_by_code.py)
keeps its state in the session's stashed `Login`, and mails a code only to an existing user
(an unknown address gets the "unknown account" mail instead). Two things here cannot live
there: the same email for known and unknown addresses, with the account created only on
confirmation, and a link usable in any browser, which needs state outside the session.

So the state lives in an `EmailSignIn` row (HMACs of the code and link token, the address,
expiry, failed attempts, how it ended) and `EmailSignInProcess` is an allauth
`AbstractCodeVerificationProcess` (the base of all of allauth's code flows) whose `persist`
and `abort` write to that row instead of the session. The rest is allauth's own:

* requesting: `RequestLoginCodeForm` (the caller's form) consumes the `request_login_code`
  rate limit, per IP and per address, in the shared cache; a new code consumes it again
  (`resend`); codes come from `adapter.generate_login_code()` (ACCOUNT_LOGIN_BY_CODE_FORMAT);
  the email goes through `adapter.send_mail()` under allauth's template name
  `account/email/login_code` (text and HTML); the page says so with the `login_code_sent`
  message;
* limits: ACCOUNT_LOGIN_BY_CODE_TIMEOUT for both code and link, and
  ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS wrong codes, after which the sign-in is over
  (allauth's `too_many_login_attempts` message, its `login_code_rejected` signal);
* finishing: `record_authentication(method="code")`, then `complete_signup()` for a new
  account (so `user_signed_up` fires as for any allauth sign-up) or `perform_login()` for a
  known one. Both run allauth's login stages and hooks; the address is verified by then, so
  the mandatory `EmailVerificationStage` lets the person through.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from allauth.account import app_settings, signals
from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.code_verification import AbstractCodeVerificationProcess
from allauth.account.internal.flows.email_verification import verify_email_indirectly
from allauth.account.internal.flows.login import perform_login, record_authentication
from allauth.account.internal.flows.signup import complete_signup
from allauth.account.models import EmailAddress, Login
from allauth.account.utils import filter_users_by_email, user_email
from allauth.core import ratelimit
from allauth.core.exceptions import RateLimited
from allauth.core.internal.cryptokit import normalize_user_code
from django.conf import settings
from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from project.accounts.models import EmailSignIn

logger = logging.getLogger(__name__)

# The pending sign-in of this browser: only this browser may finish it with the code.
SESSION_KEY = "accounts_email_sign_in"


class SignInUnavailable(Exception):
    """The code or link cannot be used: `reason` is "unknown", "expired", "used",
    "too_many_attempts" or "superseded"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class WrongCode(Exception):
    def __init__(self, attempts_left: int):
        super().__init__(f"{attempts_left} attempts left")
        self.attempts_left = attempts_left


def _digest(purpose: str, value: str) -> str:
    # Keyed with SECRET_KEY: a leaked table does not let anyone try codes offline.
    return salted_hmac(f"project.accounts.email_sign_in.{purpose}", value, algorithm="sha256").hexdigest()


def code_digest(code: str) -> str:
    # allauth's own normalisation: case, spaces and dashes do not matter when typing.
    return _digest("code", normalize_user_code(code))


def token_digest(token: str) -> str:
    return _digest("link", token)


def link_url(token: str) -> str:
    # The stage's own public address, not the request's Host header: a forged Host must not
    # be able to point a sign-in link somewhere else.
    return settings.SITE_URL + reverse("account_login_link", kwargs={"token": token})


class EmailSignInProcess(AbstractCodeVerificationProcess):
    def __init__(self, request: HttpRequest, sign_in: EmailSignIn) -> None:
        self.request = request
        self.sign_in = sign_in
        super().__init__(
            max_attempts=app_settings.LOGIN_BY_CODE_MAX_ATTEMPTS,
            timeout=app_settings.LOGIN_BY_CODE_TIMEOUT,
            state={
                "at": sign_in.created_at.timestamp(),
                "failed_attempts": sign_in.failed_attempts,
                "resend_count": 0,
                "change_count": 0,
                "email": sign_in.email,
            },
        )

    # --- starting ------------------------------------------------------------------------

    @classmethod
    def initiate(cls, *, request: HttpRequest, email: str, next_url: str = "") -> EmailSignInProcess:
        """Send a sign-in email to `email` and remember the sign-in in this browser.

        The caller has consumed the `request_login_code` rate limit (RequestLoginCodeForm
        does). Nothing here depends on whether an account uses the address.
        """
        email = email.strip().lower()
        previous = cls.from_session(request)
        if previous:
            previous.end(EmailSignIn.Outcome.SUPERSEDED)
        code = get_adapter(request).generate_login_code()
        token = secrets.token_urlsafe(32)
        sign_in = EmailSignIn.objects.create(
            email=email,
            code_hash=code_digest(code),
            token_hash=token_digest(token),
            next_url=next_url or "",
            expires_at=timezone.now() + timedelta(seconds=app_settings.LOGIN_BY_CODE_TIMEOUT),
        )
        process = cls(request, sign_in)
        process.send(code=code, token=token)
        process.persist()
        return process

    def send(self, *, code: str, token: str) -> None:  # type: ignore[override]
        adapter = get_adapter(self.request)
        minutes = max(1, round(self.timeout / 60))
        adapter.send_mail(
            "account/email/login_code",
            self.sign_in.email,
            {"code": code, "link": link_url(token), "valid_minutes": minutes, "site_name": settings.SITE_NAME},
        )
        adapter.add_message(
            self.request,
            messages.SUCCESS,
            "account/messages/login_code_sent.txt",
            {"email": self.sign_in.email, "recipient": self.sign_in.email},
        )

    def resend(self) -> EmailSignInProcess:
        """A new code and link for the same address, within the same rate limit as the first."""
        if not ratelimit.consume(self.request, action="request_login_code", key=self.sign_in.email):
            raise RateLimited
        return self.initiate(request=self.request, email=self.sign_in.email, next_url=self.sign_in.next_url)

    # --- finding -------------------------------------------------------------------------

    @classmethod
    def from_session(cls, request: HttpRequest) -> EmailSignInProcess | None:
        pk = request.session.get(SESSION_KEY)
        sign_in = EmailSignIn.objects.filter(pk=pk).first() if pk else None
        return cls(request, sign_in) if sign_in else None

    @classmethod
    def from_link(cls, request: HttpRequest, token: str) -> EmailSignInProcess:
        sign_in = EmailSignIn.objects.filter(token_hash=token_digest(token)).first()
        if sign_in is None:
            raise SignInUnavailable("unknown")
        process = cls(request, sign_in)
        process.check_usable()
        return process

    # --- state (allauth's AbstractCodeVerificationProcess, kept in the row) ----------------

    def is_valid(self) -> bool:
        return self.sign_in.is_pending

    def check_usable(self) -> None:
        if self.sign_in.finished_at is not None:
            reason = {
                EmailSignIn.Outcome.TOO_MANY_ATTEMPTS: "too_many_attempts",
                EmailSignIn.Outcome.SUPERSEDED: "superseded",
            }.get(self.sign_in.outcome, "used")
            raise SignInUnavailable(reason)
        if not self.is_valid():
            raise SignInUnavailable("expired")

    def persist(self) -> None:
        # The row is the state; this browser only needs to know which row is its own.
        self.request.session[SESSION_KEY] = self.sign_in.pk

    def abort(self) -> None:
        self.end(EmailSignIn.Outcome.TOO_MANY_ATTEMPTS)

    def end(self, outcome: str) -> bool:
        """Finish the sign-in (code and link together) unless it is already over; True if
        this call was the one that finished it. One UPDATE, so of a code and a link used at
        the same moment exactly one wins."""
        now = timezone.now()
        won = bool(
            EmailSignIn.objects.filter(pk=self.sign_in.pk, finished_at__isnull=True, expires_at__gt=now).update(
                finished_at=now, outcome=outcome
            )
        )
        self.sign_in.refresh_from_db()
        if self.request.session.get(SESSION_KEY) == self.sign_in.pk:
            self.request.session.pop(SESSION_KEY)
        return won

    def claim_attempt(self) -> bool:
        """Take one of the attempts before comparing a code; False when none is left.

        One conditional UPDATE, so however many guesses arrive at once, at most max_attempts
        of them are ever compared. A right code gives its attempt back (give_back_attempt)."""
        return bool(
            EmailSignIn.objects.filter(
                pk=self.sign_in.pk, finished_at__isnull=True, failed_attempts__lt=self.max_attempts
            ).update(failed_attempts=F("failed_attempts") + 1)
        )

    def give_back_attempt(self) -> None:
        EmailSignIn.objects.filter(pk=self.sign_in.pk).update(failed_attempts=F("failed_attempts") - 1)

    def record_invalid_attempt(self) -> bool:
        # The attempt was already counted in the database by claim_attempt (parallel guesses
        # all count); here its consequences: the signal, and the end once none is left.
        self.sign_in.refresh_from_db(fields=["failed_attempts"])
        self.state["failed_attempts"] = self.sign_in.failed_attempts
        has_attempts_left = self.sign_in.failed_attempts < self.max_attempts
        user = self.existing_user()
        if user:
            signals.login_code_rejected.send(
                sender=EmailSignInProcess, request=self.request, user=user, last_attempt=not has_attempts_left
            )
        if not has_attempts_left:
            self.abort()
        return has_attempts_left

    def existing_user(self):
        users = filter_users_by_email(self.sign_in.email, prefer_verified=True)
        return users[0] if users else None

    # --- finishing -------------------------------------------------------------------------

    def confirm_code(self, code: str) -> HttpResponse:
        """Sign in with the code typed in this browser; raises WrongCode or SignInUnavailable."""
        self.check_usable()
        if not self.claim_attempt():
            self.sign_in.refresh_from_db()
            self.check_usable()  # finished meanwhile: say why
            self.abort()
            raise SignInUnavailable("too_many_attempts")
        if not constant_time_compare(code_digest(code), self.sign_in.code_hash):
            if self.record_invalid_attempt():
                raise WrongCode(self.max_attempts - self.sign_in.failed_attempts)
            raise SignInUnavailable("too_many_attempts")
        self.give_back_attempt()
        return self.finish(EmailSignIn.Outcome.SIGNED_IN_BY_CODE)

    def confirm_link(self) -> HttpResponse:
        """Sign in with the link, in whatever browser posted its confirmation page."""
        self.check_usable()
        return self.finish(EmailSignIn.Outcome.SIGNED_IN_BY_LINK)

    def finish(self, outcome: str) -> HttpResponse:  # type: ignore[override]
        email = self.sign_in.email
        with transaction.atomic():
            if not self.end(outcome):
                self.check_usable()
                raise SignInUnavailable("used")
            user, created = account_for_confirmed_email(self.request, email)
            EmailSignIn.objects.filter(pk=self.sign_in.pk).update(user=user)
        logger.info("Email sign-in %s finished by %s for user %s (new: %s)", self.sign_in.pk, outcome, user.pk, created)
        record_authentication(self.request, user, method="code", email=email, via=outcome)
        redirect_url = self.sign_in.next_url or None
        if created:
            return complete_signup(
                self.request, user=user, email_verification=app_settings.EMAIL_VERIFICATION, redirect_url=redirect_url
            )
        return perform_login(self.request, Login(user=user, email=email, redirect_url=redirect_url))


def account_for_confirmed_email(request: HttpRequest, email: str):
    """The account that owns `email`, which the person has just proven to control; a new
    account when there is none. Returns (user, created). The address ends up verified."""
    users = filter_users_by_email(email, prefer_verified=True)
    if users:
        user = users[0]
        if not verify_email_indirectly(request, user, email):
            # Known only through User.email (e.g. made with createsuperuser): record it.
            has_primary = EmailAddress.objects.filter(user=user, primary=True).exists()
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=not has_primary)
        return user, False
    adapter = get_adapter(request)
    try:
        with transaction.atomic():
            user = adapter.new_user(request)
            user_email(user, email)
            adapter.populate_username(request, user)
            user.set_unusable_password()
            user.save()
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    except IntegrityError:
        # Two sign-ins for the same new address finished at once; the database's unique
        # verified-email constraint let one create the account. Use that one.
        users = filter_users_by_email(email, prefer_verified=True)
        if not users:
            raise
        return users[0], False
    return user, True


def prune(older_than: timedelta = timedelta(days=7)) -> int:
    """Delete sign-ins that expired more than `older_than` ago; returns how many. Their
    hashes are useless by then, and the admin only needs the recent ones."""
    deleted, _ = EmailSignIn.objects.filter(expires_at__lt=timezone.now() - older_than).delete()
    return deleted
