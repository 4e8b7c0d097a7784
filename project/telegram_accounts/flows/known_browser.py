"""
The known browser: which accounts have been signed in in this browser before.

A login_url press or a Mini App launch proves who the *Telegram* user is, never that the
browser opening it is theirs: a Telegram user can mint fresh signed fields for their own
account at will and put them behind any link (login CSRF, see flows/one_tap.py). No request
header tells the Telegram app apart from an attacker's link: `Sec-Fetch-Site: none` is what
every navigation the browser itself starts sends (a link in a mail, SMS or chat app, a typed
URL, a bookmark) and Chromium keeps it through the server redirects that follow, so a mailed
link that 302s to a freshly minted button URL arrives exactly as the Telegram app's does.

What an attacker cannot fake is the victim's own past: this browser was signed in as that
account before. So every sign-in in a browser, by any method (email code or link, the
legacy/OIDC Telegram sign-in, a one-tap Continue), adds the account to a long-lived cookie
of that browser, and a tap signs in at once only for an account the cookie names
(one_tap.arrive). A browser that has never been that account's is asked "Continue as X?"
once (a CSRF-protected POST); after that it is known. An attacker can only make a browser
known to her own account by signing in to it in that browser, which is exactly what the
question is there to stop.

The cookie (`tg_known`): the pks of the most recent few accounts signed in here, newest
first, signed with its own salt (a forged or edited value counts as no cookie), HttpOnly,
for a year, Secure and SameSite as the session cookie is. Signing out does not remove an
account: the cookie says the browser has been that account's, and a tap still needs that
account's own Telegram to press it. Someone who could plant a cookie in the victim's browser
(a sibling subdomain, plain HTTP) could plant a session cookie of her account directly, so
the cookie adds no way in that did not exist.

How it is written: allauth signs in through Django's login(), whose user_logged_in signal
carries the request; `note_sign_in` marks the request, and KnownBrowserMiddleware
(middleware.py) writes the cookie on the response. The middleware sits below
TelegramWebCookiesMiddleware, so inside Telegram Web's frame the cookie is partitioned like
every other cookie there: the frame's jar is its own "browser", known after its own first
sign-in (a first-party sign-in on the site does not reach it, by the browser's design).
A test's force_login sends the signal through a request no middleware sees: it makes no
browser known.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

COOKIE = "tg_known"
SALT = "project.telegram_accounts.known_browser"
MAX_ACCOUNTS = 5
MAX_AGE = 365 * 24 * 60 * 60
# A character cookies carry as it is (a comma would be quoted and escaped).
SEPARATOR = "."
# The request attribute note_sign_in leaves for the middleware: pks signed in by this request.
MARK = "telegram_signed_in_here"


def _signer() -> signing.TimestampSigner:
    # What HttpResponse.set_signed_cookie and HttpRequest.get_signed_cookie use.
    return signing.get_cookie_signer(salt=COOKIE + SALT)


def accounts(request: HttpRequest) -> list[str]:
    """The pks (as text) of the accounts signed in in this browser before, newest first; none
    when the cookie is missing, forged, from another secret, or over a year old."""
    raw = request.COOKIES.get(COOKIE)
    if not raw:
        return []
    try:
        value = _signer().unsign(raw, max_age=MAX_AGE)
    except signing.BadSignature:
        return []
    return [pk for pk in value.split(SEPARATOR) if pk.isdigit()][:MAX_ACCOUNTS]


def knows(request: HttpRequest, user_id) -> bool:
    """This browser has been signed in as the account `user_id` before."""
    return str(user_id) in accounts(request)


def cookie_value(user_ids) -> str:
    """The cookie's signed value naming `user_ids` (newest first, at most MAX_ACCOUNTS)."""
    ids = []
    for pk in map(str, user_ids):
        if pk not in ids:
            ids.append(pk)
    return _signer().sign(SEPARATOR.join(ids[:MAX_ACCOUNTS]))


def note_sign_in(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: remember on the request that `user` signed in here."""
    if request is None or user is None or user.pk is None:
        return
    marked = getattr(request, MARK, None)
    if marked is None:
        marked = []
        setattr(request, MARK, marked)
    marked.append(str(user.pk))


def remember(request: HttpRequest, response: HttpResponse) -> None:
    """Add the accounts signed in by this request to the browser's cookie (the middleware)."""
    signed_in = getattr(request, MARK, None)
    if not signed_in:
        return
    newest_first = list(reversed(signed_in)) + accounts(request)
    response.set_cookie(
        COOKIE,
        cookie_value(newest_first),
        max_age=MAX_AGE,
        path="/",
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )
