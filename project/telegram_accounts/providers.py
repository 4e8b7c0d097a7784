"""
allauth's two Telegram providers, adjusted for this site.

- Legacy: allauth's `telegram` provider hard-codes https://oauth.telegram.org; ours takes the
  base URL from settings.TELEGRAM_OAUTH_BASE_URL (the sandbox locally and in tests).
- OpenID Connect: allauth's `openid_connect` provider with an adapter that fetches the
  discovery document and keys once per process, always verifies the ID token's signature
  (allauth skips it when the token came straight from the token endpoint; we want a forged
  token refused whichever way it came), and says which check failed.

The apps (client id, secret, settings) come from project.telegram_accounts.adapter, built
lazily: the secrets are read only when a callback needs them.
"""

from __future__ import annotations

import json
import threading
import time

import jwt
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.socialaccount.providers.telegram.provider import TelegramProvider

from project.core import secrets
from project.telegram_accounts import conf


class TelegramLegacyProvider(TelegramProvider):
    """allauth's `telegram` provider, pointed at TELEGRAM_OAUTH_BASE_URL."""

    def get_auth_date_validity(self):
        return conf.auth_date_validity()

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs):
        state = self.stash_redirect_state(request, process, next_url, data, **kwargs)
        return_to = request.build_absolute_uri(f"{reverse('telegram_callback')}?{urlencode({'state': state})}")
        url = f"{conf.oauth_base_url()}/auth?" + urlencode(
            {
                "origin": request.build_absolute_uri("/"),
                "bot_id": self.app.client_id,
                # Lets the bot message the person afterwards (notifications).
                "request_access": "write",
                "embed": "0",
                "return_to": return_to,
            }
        )
        return HttpResponseRedirect(url)


# --- OpenID Connect -----------------------------------------------------------------------

_cache_lock = threading.Lock()
_documents: dict[str, tuple[float, dict]] = {}


def _fetch_json(url: str, *, refresh: bool = False) -> dict:
    """A JSON document (discovery, JWKS), cached per process for TELEGRAM_OIDC_CONFIG_TTL."""
    now = time.monotonic()
    with _cache_lock:
        cached = _documents.get(url)
    if cached and not refresh and now - cached[0] < conf.openid_config_ttl():
        return cached[1]
    with get_adapter().get_requests_session() as session:
        response = session.get(url)
        response.raise_for_status()
        document = response.json()
    with _cache_lock:
        _documents[url] = (now, document)
    return document


def clear_oidc_cache() -> None:
    with _cache_lock:
        _documents.clear()


class IdTokenRefused(OAuth2Error):
    """An ID token that signs no one in; the message is the real reason (no secret in it)."""


# The ID token claims the site reads (the standard ones allauth and the checks need, and
# Telegram's profile); anything else an issuer adds is dropped before allauth sees it.
USED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "auth_time", "nonce", "id", "name", "preferred_username", "picture")

MAX_TELEGRAM_ID = 2**63 - 1  # it must fit TelegramAccount.telegram_id (a 64-bit integer)


def telegram_user_id(value) -> int:
    """The `id` claim as a Telegram user id: a positive integer within 64 bits (a JSON
    number, or its decimal digits); IdTokenRefused for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        raise IdTokenRefused(f"id claim is not a Telegram user id ({type(value).__name__})")
    if not 0 < number <= MAX_TELEGRAM_ID:
        raise IdTokenRefused("id claim is not a Telegram user id (out of range)")
    return number


def verify_id_token(id_token: str, *, jwks_url: str, issuer: str, audience: str) -> dict:
    """The claims of a Telegram ID token whose signature, iss, aud and exp all check out."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise IdTokenRefused(f"malformed id_token: {exc}") from None
    if header.get("alg") != "RS256":
        raise IdTokenRefused(f"id_token alg {header.get('alg')!r} is not RS256")
    kid = header.get("kid")
    key = _find_key(jwks_url, kid)
    if key is None:
        # Keys rotate: look once more, bypassing the cache, before refusing.
        key = _find_key(jwks_url, kid, refresh=True)
    if key is None:
        raise IdTokenRefused(f"id_token signed with unknown key id {kid!r}")
    try:
        return jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            issuer=issuer,
            audience=audience,
            options={"require": ["iss", "aud", "exp", "iat"]},
            leeway=5,
        )
    except jwt.InvalidSignatureError:
        raise IdTokenRefused("id_token signature does not verify") from None
    except jwt.InvalidIssuerError:
        raise IdTokenRefused(f"id_token iss is not {issuer}") from None
    except jwt.InvalidAudienceError:
        raise IdTokenRefused(f"id_token aud is not this stage's bot ({audience})") from None
    except jwt.ExpiredSignatureError:
        raise IdTokenRefused("id_token expired (exp is in the past)") from None
    except jwt.PyJWTError as exc:
        raise IdTokenRefused(f"id_token invalid: {type(exc).__name__}: {exc}") from None


def _find_key(jwks_url: str, kid, *, refresh: bool = False):
    keys = _fetch_json(jwks_url, refresh=refresh).get("keys", [])
    for jwk in keys:
        if jwk.get("kid") == kid:
            return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    return None


class TelegramOIDCAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's OIDC adapter for Telegram's "Log In With Telegram"."""

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request, conf.OIDC_PROVIDER_ID)

    @property
    def openid_config(self):
        if not hasattr(self, "_openid_config"):
            provider = self.get_provider()
            self._openid_config = dict(_fetch_json(provider.server_url))
        return self._openid_config

    def get_client(self, request: HttpRequest, app):
        # Only the token exchange needs the client secret: read it here, not when listing apps.
        app.secret = secrets.get_secret("telegram_oidc_client_secret")
        return super().get_client(request, app)

    def _decode_id_token(self, app, id_token: str) -> dict:
        issuer = conf.oidc_issuer()
        if self.openid_config.get("issuer", "").rstrip("/") != issuer:
            raise IdTokenRefused(
                f"discovery document issuer {self.openid_config.get('issuer')!r} is not {issuer}"
            )
        claims = verify_id_token(
            id_token, jwks_url=self.openid_config["jwks_uri"], issuer=issuer, audience=str(app.client_id)
        )
        if "id" not in claims:
            raise IdTokenRefused("id_token has no id claim (the Telegram user id)")
        # Only the claims the site uses go on: allauth would otherwise take an `email` (with
        # `email_verified`) as a verified address of the new account, or offer it for sign-up.
        used = {name: claims[name] for name in USED_CLAIMS if name in claims}
        used["id"] = telegram_user_id(claims["id"])
        return used

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        # Telegram has no UserInfo endpoint: everything comes from the ID token, so a token
        # response without one signs no one in (allauth would look for UserInfo and fail).
        id_token = (kwargs.get("response") or {}).get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise IdTokenRefused("token response has no id_token")
        claims = self._decode_id_token(app, id_token)
        return self.get_provider().sociallogin_from_response(request, {"id_token": claims})
