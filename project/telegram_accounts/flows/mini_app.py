"""
The site as a Telegram Mini App: the bot's menu button opens it inside Telegram, signed in.

Telegram opens the Mini App URL with launch data in the fragment (`#tgWebAppData=...`). Our
own script (static/js/telegram_mini_app.js; nothing is loaded from Telegram, the CSP stays
as strict) posts it here, and the person is signed in only if it checks out:

- the first-party HMAC: hash = HMAC_SHA256(key=HMAC_SHA256("WebAppData", bot token),
  data-check-string of every field but `hash`), where the site holds the token; and/or
- Telegram's Ed25519 `signature` over "<bot_id>:WebAppData\\n" + the data-check-string of
  every field but `hash` and `signature`, with Telegram's public key (no secret needed;
  TELEGRAM_MINI_APP_PUBLIC_KEY: the sandbox's locally, Telegram's when deployed);
- a fresh auth_date, and each launch used once (signed_once).

TELEGRAM_MINI_APP_CHECKS says which signatures must check out (by default both). The signed
user then goes through flows/one_tap.py like a login_url press, and the session is marked as
shown inside Telegram, with the theme colours Telegram passed (checked: #rrggbb only).

`hash` and `signature` are one-use tokens: never logged here, never echoed. The signature is
accepted in its one canonical base64url spelling only and spent as its decoded bytes: the
decoder forgives padding and the last character's unused bits, so 18 spellings carry the
same 64 bytes, and with only the Ed25519 check on each would otherwise be a new launch.

Who may be signed in by a launch: launch data, like a login_url press, proves who the
Telegram user is, not that this browser is theirs, and it travels in the URL's fragment,
which anyone can put behind a link to our launch page, or load in a frame of their own
(login CSRF, see flows/one_tap.py). So a launch signs in at once only in a browser already
known to the linked account (flows/known_browser.py); any other browser is asked
"Continue as ...?" once. Inside Telegram Web that "browser" is the frame's partitioned
cookie jar (middleware.py): known after the first Continue there.

How the launch page was opened (`opened_by_telegram`, carried signed in the page's form to
the POST as `opened_token` / `opened_from`) decides only whether the choice page may offer
a new account made from the launch data. It counts as Telegram's when:
- `Sec-Fetch-Site: none`: the mobile and desktop apps' web views (as for login_url, also
  any navigation the browser itself starts, so a hint, never a proof); or
- Telegram Web's own frame: `Sec-Fetch-Dest: iframe` *and* a Referer whose origin is one
  of the frame ancestors (conf.mini_app_frame_ancestors). frame-ancestors checks who the
  frame's ancestors are, not who navigated it: another bot's Mini App in Telegram Web is a
  frame of web.telegram.org too and can navigate itself to our launch page with its own
  launch data (tests/review/test_review2_mini_app_frame.py), but its Referer is its own
  page, or none. Where Telegram Web sends no Referer, a newcomer there is offered the
  Telegram sign-in flows (Telegram's own page says who) instead of an account from the data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from project.core import secrets
from project.telegram_accounts import conf
from project.telegram_accounts.flows import linking, login_url, one_tap, signed_once
from project.telegram_accounts.flows.legacy_login import LoginRefused

MAX_LAUNCH_DATA = 4096
MAX_THEME = 2048
MENU_BUTTON_TEXT = "Open"
OPENED_FIELD = "opened"
OPENED_SALT = "telegram-mini-app-opened"
OPENED_MAX_AGE = 10 * 60


# --- checking launch data ------------------------------------------------------------------


def parse(raw: str) -> dict:
    """The launch data's fields (decoded), each exactly once; LoginRefused if malformed."""
    raw = (raw or "").strip()
    if not raw:
        raise LoginRefused("malformed launch data: empty", public="Please open the site from the bot's menu in Telegram.")
    if len(raw) > MAX_LAUNCH_DATA:
        raise LoginRefused(f"malformed launch data: too long ({len(raw)} characters)")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, max_num_fields=32)
    except ValueError as exc:
        raise LoginRefused(f"malformed launch data: {type(exc).__name__}") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise LoginRefused(f"malformed launch data: {key[:32]!r} given twice")
        fields[key] = value
    for field in ("auth_date", "user"):
        if field not in fields:
            raise LoginRefused(f"malformed launch data: no {field}")
    if not fields["auth_date"].isascii() or not fields["auth_date"].isdigit():
        raise LoginRefused("malformed launch data: auth_date is not a number")
    return fields


def data_check_string(fields: dict, *, without: tuple[str, ...]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in without)


def expected_hash(bot_token: str, fields: dict) -> str:
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret_key, data_check_string(fields, without=("hash",)).encode(), hashlib.sha256).hexdigest()


def signed_message(bot_id: int, fields: dict) -> bytes:
    return f"{bot_id}:WebAppData\n{data_check_string(fields, without=('hash', 'signature'))}".encode()


def _check_hmac(fields: dict, bot_token: str) -> None:
    if "hash" not in fields:
        raise LoginRefused("malformed launch data: no hash")
    if not hmac.compare_digest(fields["hash"].encode(), expected_hash(bot_token, fields).encode()):
        # Also what another bot's launch data looks like: keyed with that bot's token.
        raise LoginRefused("hash mismatch (HMAC not made with this stage's bot token)")


def canonical_signature(text: str) -> bytes:
    """The 64 signature bytes of `text` if it is their one canonical spelling (86 characters
    of unpadded base64url, unused bits zero), else LoginRefused."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{86}", text):
        raise LoginRefused("malformed launch data: signature is not 86 characters of unpadded base64url")
    signature = base64.urlsafe_b64decode(text + "==")
    if base64.urlsafe_b64encode(signature).rstrip(b"=").decode() != text:
        raise LoginRefused("malformed launch data: signature is not in canonical base64url")
    return signature


def _check_signature(fields: dict, bot_id: int, public_key_hex: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if "signature" not in fields:
        raise LoginRefused("malformed launch data: no signature")
    text = fields["signature"]
    signature = canonical_signature(text)
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
    except (binascii.Error, ValueError) as exc:
        raise LoginRefused(f"launch data public key unusable: {type(exc).__name__}") from None
    try:
        key.verify(signature, signed_message(bot_id, fields))
    except InvalidSignature:
        # Also another bot's data: the bot id is part of what Telegram signs.
        raise LoginRefused("Ed25519 signature does not verify (not Telegram's, or not for this stage's bot)") from None


def verify(raw: str, *, bot_id: int, checks: tuple[str, ...], max_age: int,
           bot_token: str | None = None, public_key: str | None = None, now: float | None = None) -> dict:
    """The launch data's fields if every check in `checks` passes and it is fresh."""
    if not checks:
        raise LoginRefused("no launch data check configured (TELEGRAM_MINI_APP_CHECKS)")
    fields = parse(raw)
    if "hmac" in checks:
        _check_hmac(fields, bot_token or "")
    if "ed25519" in checks:
        _check_signature(fields, bot_id, public_key or "")
    now = time.time() if now is None else now
    age = now - int(fields["auth_date"])
    if age > max_age:
        raise LoginRefused(
            f"auth_date too old ({int(age)} s > {max_age} s)",
            public="Opening the site took too long. Please open it from the bot's menu again.",
        )
    if age < -max_age:
        raise LoginRefused(f"auth_date in the future ({int(-age)} s ahead)")
    return fields


def telegram_user(fields: dict) -> dict:
    """The signed `user` object as a `from`-like dict."""
    try:
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (ValueError, TypeError, KeyError, OverflowError):
        raise LoginRefused("malformed launch data: user is not a Telegram user object") from None
    if not isinstance(user, dict) or user_id <= 0:
        raise LoginRefused("malformed launch data: user is not a Telegram user object")
    return linking.telegram_user_from_login_data(conf.LEGACY_PROVIDER_ID, {**user, "id": user_id})


def check(raw: str) -> dict:
    """The Telegram user this launch vouches for (each launch once); LoginRefused otherwise."""
    checks = conf.mini_app_checks()
    max_age = conf.mini_app_auth_date_validity()
    fields = verify(
        raw,
        bot_id=conf.bot_id(),
        checks=checks,
        max_age=max_age,
        bot_token=secrets.bot_token() if "hmac" in checks else None,
        public_key=conf.mini_app_public_key(),
    )
    user = telegram_user(fields)
    # Spend every signature that was checked: with only the Ed25519 check, `hash` is not
    # covered by it, so the signature (not the hash) must be what is spent, as its bytes
    # (verify accepted only their canonical spelling; hex of them here, for one key per launch).
    spent = []
    if "hmac" in checks:
        spent.append(fields["hash"])
    if "ed25519" in checks:
        spent.append(canonical_signature(fields["signature"]).hex())
    spent = "|".join(spent)
    if not signed_once.claim(signed_once.MINI_APP_LAUNCHES, spent, max_age):
        raise LoginRefused("launch data already used (replayed)",
                           public="This launch was already used. Please open the site from the bot's menu again.")
    return user


# --- theme -----------------------------------------------------------------------------------

THEME_KEYS = (
    "bg_color", "text_color", "hint_color", "link_color", "button_color", "button_text_color",
    "secondary_bg_color", "header_bg_color", "accent_text_color", "section_bg_color",
    "section_header_text_color", "section_separator_color", "subtitle_text_color",
    "destructive_text_color", "bottom_bar_bg_color",
)
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def theme_from(raw: str) -> dict:
    """Telegram's theme colours (tgWebAppThemeParams, unsigned): known keys with #rrggbb
    values only, so nothing else can reach the stylesheet."""
    if not raw or len(raw) > MAX_THEME:
        return {}
    try:
        params = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(params, dict):
        return {}
    return {k: params[k].lower() for k in THEME_KEYS if isinstance(params.get(k), str) and _COLOUR.fullmatch(params[k])}


# Telegram's colours on the site's own CSS variables (static/css/site.css).
THEME_VARIABLES = (
    ("--paper", ("section_bg_color", "bg_color")),
    ("--wash", ("secondary_bg_color", "bg_color")),
    ("--ink", ("text_color",)),
    ("--muted", ("subtitle_text_color", "hint_color")),
    ("--line", ("section_separator_color", "hint_color")),
    ("--accent", ("button_color", "link_color")),
    ("--accent-ink", ("button_text_color",)),
    ("--error", ("destructive_text_color",)),
)


def theme_css(theme: dict) -> str:
    """The stylesheet that dresses a page in Telegram's colours and fits a phone screen."""
    lines = []
    for variable, keys in THEME_VARIABLES:
        value = next((theme[k] for k in keys if k in theme), None)
        if value:
            lines.append(f"  {variable}: {value};")
    link = theme.get("link_color")
    return (
        ":root {\n" + "\n".join(lines) + "\n}\n"
        + (f"a {{ color: {link}; }}\n" if link else "")
        # Inside Telegram the app already has a header, and the screen is a phone's.
        + "body { overscroll-behavior-y: none; }\n"
        + ".container { padding: 1rem .75rem; }\n"
        + ".site-footer { display: none; }\n"
        + ".nav { padding: .4rem .75rem; }\n"
    )


def theme_version(theme: dict) -> str:
    return hashlib.sha256(json.dumps(theme, sort_keys=True).encode()).hexdigest()[:12]


# --- the launch ------------------------------------------------------------------------------


def opened_by_telegram(request: HttpRequest) -> bool:
    """The launch page's GET seems to come from Telegram: a navigation no page started (its
    apps' web views) or a frame that Telegram Web itself loaded (the Referer names one of
    the frame ancestors). Only decides whether a new account may be offered (module's notes)."""
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "none":
        return True
    if request.headers.get("Sec-Fetch-Dest", "").strip().lower() != "iframe":
        return False
    referer = urlsplit(request.headers.get("Referer", "").strip())
    origin = f"{referer.scheme}://{referer.netloc}".lower()
    return bool(referer.scheme and referer.netloc) and origin in (o.lower() for o in conf.mini_app_frame_ancestors())


def opened_token(request: HttpRequest) -> str:
    """What the launch page's form carries to its POST: how the page was opened, signed."""
    return signing.dumps({"telegram": opened_by_telegram(request)}, salt=OPENED_SALT)


def opened_from(request: HttpRequest) -> bool:
    """Whether the page that posted this launch seems opened by Telegram (False when unknown)."""
    try:
        verdict = signing.loads(request.POST.get(OPENED_FIELD, ""), salt=OPENED_SALT, max_age=OPENED_MAX_AGE)
    except signing.BadSignature:
        return False
    return isinstance(verdict, dict) and verdict.get("telegram") is True


def launch(request: HttpRequest) -> HttpResponse:
    """The response to the launch page's POST: signed in and on the page, a choice, or a refusal."""
    target = one_tap.target_from(request.GET.get(login_url.TARGET_PARAM), method=one_tap.MINI_APP)
    theme = theme_from(request.POST.get("theme", ""))
    try:
        user = check(request.POST.get("init_data", ""))
    except LoginRefused as exc:
        one_tap.logger.warning("%s refused: %s", one_tap.MINI_APP, exc.reason)
        response = login_url.refusal(request, exc, target)
        response.telegram_mini_app = True  # shown inside Telegram too
        return response
    return one_tap.arrive(request, user, method=one_tap.MINI_APP, target=target, theme=theme,
                          from_telegram=opened_from(request))


# --- the bot's menu button -------------------------------------------------------------------


def app_url() -> str:
    return settings.SITE_URL + reverse("telegram_mini_app")


async def ensure_menu_button(bot) -> bool:
    """Make the bot's menu button (for every chat) open this site as a Mini App; True if it
    had to be set (setChatMenuButton), False if it already did."""
    from telegram import MenuButtonWebApp, WebAppInfo

    current = await bot.get_chat_menu_button()
    url = app_url()
    if isinstance(current, MenuButtonWebApp) and current.text == MENU_BUTTON_TEXT and current.web_app.url == url:
        return False
    await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(MENU_BUTTON_TEXT, WebAppInfo(url)))
    return True
