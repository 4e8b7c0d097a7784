"""
Telegram's login_url buttons: one tap from a bot message to a page of this site, signed in.

The bot's buttons (project.bot.buttons.site_button, contract C1) are `login_url` buttons to
our endpoint with the target path in `next`. On a press Telegram opens that URL with the
person's signed fields added to the query (`id, first_name, last_name, username, photo_url,
auth_date, hash`), signed exactly like the legacy sign-in's result. So they are checked by
the legacy flow's own `verify` (this stage's bot token, the same HMAC, the same short
auth_date window) and spent in the same namespace (signed_once): one signed result signs in
once, by button or by the legacy callback. Then flows/one_tap.py decides what to do with the
person, and `next` may only ever be a path of this site.

`hash` is a one-use token: it is never logged here, and the page never echoes it.

Who may be signed in on the GET: the fields prove who the Telegram user is, not that this
browser is theirs; anyone can mint fresh ones for their own Telegram account and put them
behind a link (login CSRF, see flows/one_tap.py). The press signs in at once only in a
browser already known to the linked account (flows/known_browser.py), whatever its headers;
any other browser gets the "Continue as ...?" page, whose POST (CSRF-protected) signs in and
makes the browser known.

`opened_by_telegram` (`Sec-Fetch-Site: none`) is kept for one smaller decision: whether the
choice page may offer a new account made from the fields of a Telegram user linked to no
account. `none` is what a URL the Telegram app opens sends (its in-app browser: Chrome
Custom Tabs, SFSafariViewController, Android WebView, WKWebView; the desktop apps hand it
to the default browser), but also every navigation the browser itself starts: a link in a
mail, SMS or chat app, a typed URL, a bookmark, and Chromium keeps it through the redirects
that follow (tests/review/test_review2_one_tap_none_laundering.py). So it proves nothing
about Telegram: any server gets it sent for whoever starts from a link outside the browser.
The new account still takes a press on our page that names the Telegram account. Every other
value (`cross-site`: another site, Telegram Web's new tab; `same-origin`/`same-site`: our
own redirects go to paths a caller chose, a sibling subdomain; no header: a browser
without Fetch Metadata) offers the Telegram sign-in flows instead, where Telegram's own
page says who.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from project.core import secrets
from project.telegram_accounts import conf
from project.telegram_accounts.flows import legacy_login, linking, one_tap, signed_once
from project.telegram_accounts.flows.legacy_login import LoginRefused

# Our own parameter in the button's URL; everything else in the query is Telegram's.
TARGET_PARAM = "next"
REQUIRED_FIELDS = ("id", "auth_date", "hash")
MAX_FIELDS = 16
MAX_VALUE = 1024


# reverse("telegram_login_url"), spelled out: buttons are built by the webhook and sender
# functions too, which should not load the site's whole URLconf for one path (a test checks
# that the two agree).
ENDPOINT_PATH = "/accounts/telegram/button/"


def endpoint_url(path: str) -> str:
    """The URL a login_url button opens: our endpoint, with the target path in it."""
    return f"{settings.SITE_URL}{ENDPOINT_PATH}?{urlencode({TARGET_PARAM: path})}"


def button(text: str, path: str, *, write_access: bool = False) -> dict:
    """An InlineKeyboardButton (as a dict) with a LoginUrl to `path` on this site."""
    login_url = {"url": endpoint_url(path)}
    if write_access:
        # Telegram then asks the person to let the bot message them (notifications).
        login_url["request_write_access"] = True
    return {"text": text, "login_url": login_url}


def signed_fields(query) -> dict:
    """Telegram's fields from the query (all but ours), each exactly once; LoginRefused if
    they cannot be what Telegram signs. The signature itself is checked by `check`."""
    if len(query) > MAX_FIELDS:
        raise LoginRefused(f"malformed login_url fields: {len(query)} parameters")
    data = {}
    for key in query:
        if key == TARGET_PARAM:
            continue
        values = query.getlist(key)
        if len(values) != 1:
            # Which one would be signed? Refuse rather than guess.
            raise LoginRefused(f"malformed login_url fields: {key[:32]!r} given {len(values)} times")
        if len(values[0]) > MAX_VALUE:
            raise LoginRefused(f"malformed login_url fields: {key[:32]!r} too long")
        data[key] = values[0]
    for field in REQUIRED_FIELDS:
        if field not in data:
            raise LoginRefused(f"malformed login_url fields: no {field}")
    for field in ("id", "auth_date"):
        if not data[field].isascii() or not data[field].isdigit():
            raise LoginRefused(f"malformed login_url fields: {field} is not a number")
    return data


def check(query) -> dict:
    """The Telegram user (a `from`-like dict) a press's query vouches for; LoginRefused with
    the real reason otherwise (bad or foreign signature, stale, replayed, malformed)."""
    data = signed_fields(query)
    max_age = conf.auth_date_validity()
    fields = legacy_login.verify(data, bot_token=secrets.bot_token(), max_age=max_age)
    if not signed_once.claim(signed_once.LOGIN_RESULTS, data["hash"], max_age):
        raise LoginRefused(
            "signed login data already used (replayed)",
            public="This button was already used. Please press it in Telegram again.",
        )
    return linking.telegram_user_from_login_data(conf.LEGACY_PROVIDER_ID, fields)


def opened_by_telegram(request: HttpRequest) -> bool:
    """True for a navigation no web page started (`Sec-Fetch-Site: none`): what the Telegram
    app opening the button's URL sends, and so does any other app or a typed URL. Only lets
    the choice page offer a new account; it never signs anyone in (module's docstring)."""
    return request.headers.get("Sec-Fetch-Site", "").strip().lower() == "none"


def complete(request: HttpRequest) -> HttpResponse:
    """The response to a press: signed in and on the page, a choice, or a refusal."""
    target = one_tap.target_from(request.GET.get(TARGET_PARAM), method=one_tap.BUTTON)
    try:
        telegram_user = check(request.GET)
    except LoginRefused as exc:
        one_tap.logger.warning("%s refused: %s", one_tap.BUTTON, exc.reason)
        return refusal(request, exc, target)
    return one_tap.arrive(request, telegram_user, method=one_tap.BUTTON, target=target,
                          from_telegram=opened_by_telegram(request))


def refusal(request: HttpRequest, exc: LoginRefused, target: str, *, status: int = 400) -> HttpResponse:
    """One clear page for every refusal: nothing changed, and the ways on."""
    return render(request, "telegram_accounts/one_tap_refused.html",
                  {"message": exc.public, "target": target}, status=status)
