"""
Signing in from Telegram in one tap, once we know who it is.

flows/login_url.py (a login_url button's signed fields) and flows/mini_app.py (a Mini App's
launch data) check what Telegram signed; both then hand the Telegram user here:

- linked to a site account, nobody signed in here, and this browser already known to that
  account (it has been signed in as it before: flows/known_browser.py): sign that account
  in and go to the page;
- linked to the account already signed in here: go to the page;
- anything else (someone else is signed in, the Telegram user is linked to no account, or
  this browser has never been that account's): the checked identity waits in this
  browser's session and the person chooses: continue as that account, switch accounts,
  create an account, or carry on as they are. Nothing signs in behind their back.

What the signed fields prove, and what they do not: a login_url press proves who the
*Telegram* user is, not that the person in this browser is that Telegram user. Nothing binds
the fields to a browser, and a Telegram user can mint fresh ones for themselves at will
(press a button; any MTProto client hands out the signed URL), so an attacker can put them
behind a link on their own site, or in a mail or chat message. Hence:

- A sign-in on the GET (or the launch) alone happens only in a known browser, whatever the
  request's headers say: no header tells the Telegram app from an attacker's link
  (`Sec-Fetch-Site: none` is any navigation the browser itself starts, kept through
  redirects; see flows/known_browser.py). In a browser that has not been that account's,
  the person is asked, on our page, with a CSRF-protected POST ("Continue as X?"); that
  sign-in makes the browser known, so it is asked once. A browser the site has seen
  (someone who signed in by email on their phone's browser, then taps in Telegram; the
  sandbox's web chat) is one tap whichever way the URL was opened.
- `from_telegram` (login_url.opened_by_telegram, mini_app.opened_from) is only a hint that
  the fields came from Telegram (a navigation no page started; Telegram Web's own frame).
  It decides one thing: whether the choice page may offer a new account made from the
  fields (the person still presses "Create", on a page that names the Telegram account).
  A browser that sends it can still have been sent by a link outside the web.
- A checked identity never *connects* a Telegram account to a site account. "Connect
  Telegram" on the choice page runs the legacy/OIDC sign-in with `process=connect`, which is
  bound to this session's state and shows the Telegram account on Telegram's own page, as
  the account page does. (Connecting the stashed identity let anyone's Telegram be connected
  to a victim's account by one click on our own page.)
- The waiting identity belongs to the signed-in user it was stashed for (or to nobody
  signed in): when that changes (a sign-in by email, a sign-out) it is dropped.

Sign-ins go through allauth's own login machinery (perform_login; a new account through its
social signup, exactly as the legacy sign-in makes one) and set `request.sign_in_method`
first (contract C3). The target page travels as a path of this site only (`safe_target`).

Pages shown inside Telegram (a Mini App) are marked in the session with Telegram's theme, so
the site can let Telegram Web frame them and dress them in its colours (middleware.py).
"""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote, urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from project.telegram_accounts import conf
from project.telegram_accounts.flows import known_browser, linking

logger = logging.getLogger("project.telegram_accounts.login")

# request.sign_in_method values (contract C3).
BUTTON = "telegram-button"
MINI_APP = "telegram-mini-app"
METHODS = (BUTTON, MINI_APP)

PENDING_KEY = "telegram_one_tap_pending"
IN_TELEGRAM_KEY = "telegram_mini_app"
DEFAULT_TARGET = "/"


# --- the target page ---------------------------------------------------------------------


def _path_only(value: str) -> bool:
    # Browsers drop tabs and newlines inside a URL ("/\t/evil" becomes "//evil") and read
    # "\" as "/" ("/\evil" is "//evil"), so neither may appear anywhere.
    if "\\" in value or any(ch in value for ch in "\t\n\r"):
        return False
    return value.startswith("/") and not value.startswith("//")


def safe_target(raw) -> str | None:
    """`raw` if it is a path of this site ("/requests/12/?tab=x"), else None. Never a URL that
    leaves the site, however it is spelled or percent-encoded."""
    if not isinstance(raw, str) or len(raw) > 2000:
        return None
    # As sent: printable ASCII only (a site path is percent-encoded).
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in raw):
        return None
    value = raw
    # Each decoding must still be a path, so "%2F%2Fevil" or "%5Cevil" passed on to a later
    # decoder (a proxy, another redirect) cannot become "//evil" either.
    for _ in range(3):
        if not _path_only(value):
            return None
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return None
    # Django's own open-redirect check agrees (belt and braces).
    if not url_has_allowed_host_and_scheme(raw, allowed_hosts=None):
        return None
    return raw


def target_from(raw, *, method: str) -> str:
    """The page to land on: `raw` if safe, else the home page (the refusal is logged)."""
    if raw in (None, ""):
        return DEFAULT_TARGET
    target = safe_target(raw)
    if target is None:
        logger.warning("%s: target refused (not a path of this site), going home instead", method)
        return DEFAULT_TARGET
    return target


# --- inside Telegram -----------------------------------------------------------------------


def mark_in_telegram(request: HttpRequest, theme: dict) -> None:
    """This browser session is a Mini App inside Telegram, wearing `theme` (checked colours)."""
    request.session[IN_TELEGRAM_KEY] = {"theme": dict(theme)}


def in_telegram(request: HttpRequest) -> dict | None:
    """The theme of a session shown inside Telegram, or None. Does not create a session."""
    from django.conf import settings

    session = getattr(request, "session", None)
    if session is None or settings.SESSION_COOKIE_NAME not in request.COOKIES and not session.modified:
        return None
    marker = session.get(IN_TELEGRAM_KEY)
    return marker.get("theme", {}) if isinstance(marker, dict) else None


# --- arriving from Telegram ------------------------------------------------------------------


def arrive(request: HttpRequest, telegram_user: dict, *, method: str, target: str, from_telegram: bool,
           theme: dict | None = None) -> HttpResponse:
    """The response for a checked Telegram user arriving by `method`, bound for `target`.
    `from_telegram`: the fields seem to have come from Telegram (only lets the choice page
    offer a new account; see the module's docstring). `theme` is given when the person is
    inside Telegram (Mini App)."""
    assert method in METHODS  # nosec - programming error, not input
    if theme is not None:
        mark_in_telegram(request, theme)
    telegram_id = int(telegram_user["id"])
    account = linking.account_for(telegram_id)
    user = request.user
    if account is not None and user.is_authenticated and user.pk == account.user_id:
        linking.link(user, telegram_user)  # keeps the names Telegram shows up to date
        logger.info("%s: telegram id %s is already signed in as user %s", method, telegram_id, user.pk)
        return HttpResponseRedirect(target)
    if account is not None and not user.is_authenticated and known_browser.knows(request, account.user_id):
        logger.info("%s: this browser has been signed in as user %s before", method, account.user_id)
        return sign_in(request, account.user, telegram_user, method=method, target=target, theme=theme)
    request.session[PENDING_KEY] = {
        "telegram_user": dict(telegram_user),
        "method": method,
        "target": target,
        "theme": theme,
        "from_telegram": bool(from_telegram),
        # Whose it is: dropped as soon as someone else (or nobody) is signed in here.
        "for_user": user.pk if user.is_authenticated else None,
        "at": time.time(),
    }
    if account is None:
        situation = "is linked to no account"
    elif user.is_authenticated:
        situation = "is linked to another account than the signed-in one"
    else:
        situation = "is linked to an account this browser has not been signed in as"
    logger.info("%s: telegram id %s %s; asking the person", method, telegram_id, situation)
    return HttpResponseRedirect(reverse("telegram_one_tap_choice"))


def sign_in(request: HttpRequest, user, telegram_user: dict, *, method: str, target: str,
            theme: dict | None = None) -> HttpResponse:
    """Sign `user` (linked to `telegram_user`) in through allauth, and go to `target`."""
    from allauth.account.adapter import get_adapter as get_account_adapter
    from allauth.account.internal.flows.login import record_authentication
    from allauth.account.utils import perform_login

    if request.user.is_authenticated:
        # Switching accounts: the way allauth's own social sign-in does it.
        get_account_adapter(request).logout(request)
    linking.link(user, telegram_user)
    request.sign_in_method = method
    # Recorded like a Telegram sign-in through allauth, with the way in beside it.
    record_authentication(request, user, "socialaccount", provider=conf.LEGACY_PROVIDER_ID,
                          uid=str(telegram_user["id"]), via=method)
    # Telegram vouches for the person; no email step (as for every Telegram sign-in here).
    response = perform_login(request, user, email_verification="none", redirect_url=target)
    if theme is not None:
        mark_in_telegram(request, theme)  # a switch started a new session
    logger.info("%s sign-in: telegram id %s as user %s", method, telegram_user["id"], user.pk)
    return response


# --- the person's choice -------------------------------------------------------------------


def pending(request: HttpRequest) -> dict | None:
    """The checked identity waiting for the person's choice, while it is fresh and the same
    user (or nobody) is signed in as when it arrived."""
    waiting = request.session.get(PENDING_KEY)
    if not isinstance(waiting, dict):
        return None
    user = request.user
    signed_in_as = user.pk if user.is_authenticated else None
    if time.time() - float(waiting.get("at", 0)) > conf.one_tap_pending_ttl() or (
            "for_user" not in waiting or waiting["for_user"] != signed_in_as):
        request.session.pop(PENDING_KEY, None)
        return None
    return waiting


def choice(request: HttpRequest, waiting: dict) -> dict:
    """What the choice page offers for `waiting` (template context)."""
    telegram_user = waiting["telegram_user"]
    account = linking.account_for(int(telegram_user["id"]))
    user = request.user
    from_telegram = bool(waiting.get("from_telegram"))
    if account is not None:
        case = "switch" if user.is_authenticated else "confirm"
    elif not user.is_authenticated:
        case = "new"
    elif linking.TelegramAccount.objects.filter(user_id=user.pk).exists():
        case = "other_telegram"
    else:
        case = "connect"
    return {
        "case": case,
        "telegram_name": " ".join(p for p in (telegram_user.get("first_name"), telegram_user.get("last_name")) if p)
        or telegram_user.get("username") or "your Telegram account",
        "telegram_username": telegram_user.get("username") or "",
        "linked_name": account.user.display_name if account is not None else "",
        # What names the account in the question: what only its owner has (its address),
        # never only names an attacker can copy onto an account of her own.
        "linked_label": account.user.owner_label if account is not None else "",
        "target": waiting["target"],
        # A new account from the stashed identity only when it seems Telegram handed it over;
        # otherwise "Continue with Telegram" runs the sign-in flows (Telegram's own page says who).
        "can_create": from_telegram and _legacy_provider(request) is not None,
        "from_telegram": from_telegram,
    }


# No "connect": connecting runs the legacy/OIDC flow with process=connect (see the docstring).
ACTIONS = ("continue", "switch", "create", "stay")


class ChoiceRefused(Exception):
    pass


def resolve(request: HttpRequest, action: str) -> HttpResponse:
    """Carry out the person's choice. Each waiting identity is used once, whatever is chosen."""
    waiting = pending(request)
    if waiting is None:
        messages.error(request, "That sign-in from Telegram has expired. Please press the button in Telegram again.")
        return HttpResponseRedirect(reverse("account_login"))
    if action not in ACTIONS:
        raise ChoiceRefused(f"unknown action {action[:20]!r}")
    request.session.pop(PENDING_KEY, None)
    telegram_user, method, target = waiting["telegram_user"], waiting["method"], waiting["target"]
    theme = waiting.get("theme")
    telegram_id = int(telegram_user["id"])
    account = linking.account_for(telegram_id)
    if action == "stay":
        return HttpResponseRedirect(target)
    signed_in = request.user.is_authenticated
    if (action == "switch" and signed_in or action == "continue" and not signed_in) and account is not None:
        return sign_in(request, account.user, telegram_user, method=method, target=target, theme=theme)
    if action == "create" and account is None and waiting.get("from_telegram"):
        return _create_account(request, telegram_user, method=method, target=target, theme=theme)
    # The situation changed since the page was shown (linked meanwhile, signed out...).
    messages.info(request, "Nothing was changed. Please press the button in Telegram again.")
    return HttpResponseRedirect(target)


def _legacy_provider(request):
    from allauth.socialaccount.adapter import get_adapter
    from allauth.socialaccount.models import SocialApp

    try:
        return get_adapter().get_provider(request, conf.LEGACY_PROVIDER_ID)
    except SocialApp.DoesNotExist:
        return None


def _create_account(request, telegram_user: dict, *, method: str, target: str, theme: dict | None):
    """A new account for this Telegram user, made by allauth's social signup exactly as a first
    legacy sign-in makes one (our adapter links it)."""
    from allauth.socialaccount.helpers import complete_social_login

    provider = _legacy_provider(request)
    if provider is None:
        messages.error(request, "Please sign in first; you can connect Telegram from your account page.")
        return HttpResponseRedirect(reverse("account_login"))
    fields = {k: v for k, v in telegram_user.items() if v not in (None, "")}
    login = provider.sociallogin_from_response(request, fields)
    login.state = {"process": "login", "next": target}
    request.sign_in_method = method
    response = complete_social_login(request, login)
    if theme is not None and request.user.is_authenticated:
        mark_in_telegram(request, theme)
    return response
