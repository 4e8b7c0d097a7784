"""
Tunables of Telegram sign-in and linking, read from django.conf.settings with defaults here
(as Django's contrib apps do), so settings.py only holds what differs per stage.
"""

from __future__ import annotations

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
