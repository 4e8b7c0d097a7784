"""
Tunables of Telegram sign-in and linking, read from django.conf.settings with defaults here
(as Django's contrib apps do), so settings.py only holds what differs per stage.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

# The two allauth providers. The legacy flow is allauth's own `telegram` provider; the
# OpenID Connect flow is an `openid_connect` app whose provider_id is this.
LEGACY_PROVIDER_ID = "telegram"
OIDC_PROVIDER_ID = "telegram-oidc"
PROVIDER_IDS = (LEGACY_PROVIDER_ID, OIDC_PROVIDER_ID)
FLOW_PROVIDER_IDS = {"legacy": LEGACY_PROVIDER_ID, "oidc": OIDC_PROVIDER_ID}
KNOWN_FLOWS = tuple(FLOW_PROVIDER_IDS)

OIDC_SCOPES = ["openid", "profile", "telegram:bot_access"]


def login_flows() -> list[str]:
    """The flows this stage offers, in the order the sign-in page shows them."""
    flows = getattr(settings, "TELEGRAM_LOGIN_FLOWS", ["legacy", "oidc"])
    if isinstance(flows, str):
        flows = [f.strip() for f in flows.split(",")]
    return [f for f in flows if f in KNOWN_FLOWS]


def bot_id() -> int:
    return int(settings.TELEGRAM_BOT_ID)


def bot_username() -> str:
    return settings.TELEGRAM_BOT_USERNAME


def oauth_base_url() -> str:
    return getattr(settings, "TELEGRAM_OAUTH_BASE_URL", "https://oauth.telegram.org").rstrip("/")


def oidc_issuer() -> str:
    """The `iss` an ID token must carry: Telegram's, or the base URL of a stand-in server."""
    explicit = getattr(settings, "TELEGRAM_OIDC_ISSUER", "")
    if explicit:
        return explicit.rstrip("/")
    return oauth_base_url()


def auth_date_validity() -> int:
    """Seconds a legacy login result stays acceptable after Telegram signed it."""
    return int(getattr(settings, "TELEGRAM_AUTH_DATE_VALIDITY", 30))


def start_token_ttl() -> int:
    """Seconds a /start connect token stays redeemable."""
    return int(getattr(settings, "TELEGRAM_START_TOKEN_TTL", 30 * 60))


def openid_config_ttl() -> int:
    """Seconds the OIDC discovery document and keys are kept per process."""
    return int(getattr(settings, "TELEGRAM_OIDC_CONFIG_TTL", 60 * 60))


# --- One tap from Telegram: login_url buttons and the Mini App ------------------------------

# Telegram's Ed25519 key for Mini App launch data (Bot API 8.0+, "third-party" validation).
TELEGRAM_PRODUCTION_MINI_APP_KEY = "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
TELEGRAM_WEB_ORIGIN = "https://web.telegram.org"
MINI_APP_CHECKS = ("hmac", "ed25519")


def one_tap_pending_ttl() -> int:
    """Seconds a checked Telegram identity waits in the session for the person's choice
    (switch account, connect, create): long enough to sign in by email code first."""
    return int(getattr(settings, "TELEGRAM_ONE_TAP_PENDING_TTL", 15 * 60))


def mini_app_auth_date_validity() -> int:
    """Seconds Mini App launch data stays acceptable (the script posts it at once)."""
    return int(getattr(settings, "TELEGRAM_MINI_APP_AUTH_DATE_VALIDITY", auth_date_validity()))


def mini_app_public_key() -> str:
    """Hex Ed25519 public key that signs launch data: Telegram's, or the sandbox's locally."""
    return getattr(settings, "TELEGRAM_MINI_APP_PUBLIC_KEY", "") or TELEGRAM_PRODUCTION_MINI_APP_KEY


def mini_app_checks() -> tuple[str, ...]:
    """Which launch-data signatures must check out: the first-party HMAC (needs the bot
    token, which the site holds) and/or Telegram's Ed25519 signature (needs no secret)."""
    checks = getattr(settings, "TELEGRAM_MINI_APP_CHECKS", MINI_APP_CHECKS)
    if isinstance(checks, str):
        checks = [c.strip() for c in checks.split(",")]
    return tuple(c for c in MINI_APP_CHECKS if c in checks)


# The sandbox plays Telegram Web on the other loopback name than its own, so that its frame is
# cross-site as web.telegram.org's is (infra/local/telegram_sandbox/mini_app.py).
_LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def mini_app_frame_ancestors() -> list[str]:
    """Origins that may frame pages shown inside Telegram: Telegram Web, and a local stand-in
    for Telegram (the sandbox, at TELEGRAM_OAUTH_BASE_URL, and on a loopback address also its
    other loopback name, where its Telegram Web launcher is) when one plays it."""
    origins = list(getattr(settings, "TELEGRAM_MINI_APP_FRAME_ANCESTORS", [TELEGRAM_WEB_ORIGIN]))
    parts = urlsplit(oauth_base_url())
    stand_in = f"{parts.scheme}://{parts.netloc}"
    if stand_in != "https://oauth.telegram.org":
        twin = _LOOPBACK_TWINS.get(parts.hostname or "")
        for origin in (stand_in, twin and f"{parts.scheme}://{twin}" + (f":{parts.port}" if parts.port else "")):
            if origin and origin not in origins:
                origins.append(origin)
    return origins
