"""OpenID Connect ("Log In With Telegram"): authorization codes and the token endpoint.

Telegram's flow is plain OIDC authorization code + PKCE (S256 only). The client is the bot
(client_id = bot id), authenticated at /token with the Web Login client secret, by HTTP
Basic (client_secret_basic) or in the form (client_secret_post).
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import asdict
from urllib.parse import unquote

from . import signing
from .state import BotState, Sandbox

SCOPES = ["openid", "profile", "phone", "telegram:bot_access"]

# --- Test switch (security, issue 12 item 7) ------------------------------------------------
# Telegram always puts an ID token in its token response. Tests set this to True to get a
# response without one (everything else as usual), which the site must answer with its
# sign-in error page, not a 500.
OMIT_ID_TOKEN = False


def discovery(sb: Sandbox, base: str) -> dict:
    base = (sb.base_url or base).rstrip("/")
    return {
        "issuer": sb.issuer_for(base),
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["iss", "aud", "sub", "iat", "exp", "auth_time", "nonce", "id",
                             "name", "preferred_username", "picture", "phone_number"],
        "code_challenge_methods_supported": ["S256"],
    }


class AuthRequestError(Exception):
    """A bad authorization request. ``redirect`` is False when the client or redirect_uri
    cannot be trusted, so the error is shown on a page instead of sent back (RFC 6749
    4.1.2.1)."""

    def __init__(self, error: str, description: str, redirect: bool):
        super().__init__(description)
        self.error, self.description, self.redirect = error, description, redirect


def validate_auth_request(sb: Sandbox, args) -> BotState:
    try:
        bot = sb.bot(int(args.get("client_id", "")))
    except (KeyError, ValueError):
        raise AuthRequestError("invalid_client", "unknown client_id", False) from None
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_uri:
        raise AuthRequestError("invalid_request", "redirect_uri is required", False)
    allowed = bot.config.redirect_uris
    if allowed is not None and redirect_uri not in allowed:
        raise AuthRequestError("invalid_request", "redirect_uri is not registered", False)
    if args.get("response_type") != "code":
        raise AuthRequestError("unsupported_response_type", "response_type must be code", True)
    scopes = args.get("scope", "").split()
    if "openid" not in scopes:
        raise AuthRequestError("invalid_scope", "scope must contain openid", True)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise AuthRequestError("invalid_scope", f"unknown scope {unknown[0]}", True)
    if not args.get("state"):
        raise AuthRequestError("invalid_request", "state is required", True)
    if not args.get("code_challenge"):
        raise AuthRequestError("invalid_request", "code_challenge is required (PKCE)", True)
    if args.get("code_challenge_method") != "S256":
        raise AuthRequestError("invalid_request", "code_challenge_method must be S256", True)
    return bot


def issue_code(sb: Sandbox, bot: BotState, args, user_id: int) -> str:
    code = secrets.token_urlsafe(32)
    scopes = set(args.get("scope", "").split())
    with sb.lock:
        sb.oidc_codes[code] = {
            "bot_id": bot.id,
            "redirect_uri": args.get("redirect_uri"),
            "scopes": scopes,
            "code_challenge": args.get("code_challenge"),
            "nonce": args.get("nonce") or None,
            "user_id": int(user_id),
            "expires_at": sb.now() + sb.code_lifetime,
            "used": False,
        }
    if "telegram:bot_access" in scopes:
        sb.allow_write(user_id, bot.id)
    return code


def _client_credentials(headers, form) -> tuple[str | None, str | None, bool]:
    auth = headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            raw = base64.b64decode(auth[6:].strip()).decode()
            cid, _, secret = raw.partition(":")
            # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
            return unquote(cid.replace("+", " ")), unquote(secret.replace("+", " ")), True
        except (ValueError, UnicodeDecodeError):
            return None, None, True
    return form.get("client_id"), form.get("client_secret"), False


def token(sb: Sandbox, headers, form, base: str) -> tuple[int, dict, dict]:
    """The token endpoint. Returns (status, JSON body, extra headers)."""
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}

    def err(status, error, description):
        extra = dict(no_store)
        if status == 401 and used_basic:
            extra["WWW-Authenticate"] = 'Basic realm="oauth.telegram.org"'
        return status, {"error": error, "error_description": description}, extra

    client_id, secret, used_basic = _client_credentials(headers, form)
    try:
        bot = sb.bot(int(client_id or ""))
    except (KeyError, ValueError):
        return err(401, "invalid_client", "unknown client")
    expected = bot.config.oidc_client_secret
    if not expected or not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
        return err(401, "invalid_client", "client authentication failed")
    if form.get("grant_type") != "authorization_code":
        return err(400, "unsupported_grant_type", "grant_type must be authorization_code")
    code = form.get("code")
    if not code:
        return err(400, "invalid_request", "code is required")
    with sb.lock:
        entry = sb.oidc_codes.get(code)
        if entry is None or entry["bot_id"] != bot.id:
            return err(400, "invalid_grant", "unknown authorization code")
        if entry["used"]:
            return err(400, "invalid_grant", "authorization code was already used")
        entry["used"] = True  # single use, whatever happens next
        if sb.now() > entry["expires_at"]:
            return err(400, "invalid_grant", "authorization code expired")
        if form.get("redirect_uri") != entry["redirect_uri"]:
            return err(400, "invalid_grant", "redirect_uri does not match")
        verifier = form.get("code_verifier") or ""
        if not verifier:
            return err(400, "invalid_grant", "code_verifier is required")
        if not hmac.compare_digest(signing.s256(verifier), entry["code_challenge"]):
            return err(400, "invalid_grant", "PKCE verification failed")
        user = sb.user(entry["user_id"])
        claims = signing.id_token_claims(
            issuer=sb.issuer_for(base), bot_id=bot.id, salt=bot.sub_salt, user=asdict(user),
            scopes=entry["scopes"], nonce=entry["nonce"], now=sb.now())
        id_token = sb.signing_key.sign(claims)
    body = {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer",
            "expires_in": 3600, "id_token": id_token, "scope": " ".join(sorted(entry["scopes"]))}
    if OMIT_ID_TOKEN:  # test switch, see above
        del body["id_token"]
    return 200, body, no_store
