"""The sandbox's Ed25519 key pair for Mini App launch data, and the signing itself.

Telegram signs every Mini App's launch data twice: the first-party ``hash`` (an HMAC keyed
with the bot's token) and, since Bot API 8.0, an Ed25519 ``signature`` with Telegram's own
key, which a site checks with Telegram's public key and no secret. The sandbox signs the
same way with a key pair of its own, derived from a fixed seed so that ``make dev``, the
tests and the site's local setting (TELEGRAM_MINI_APP_PUBLIC_KEY) all agree on it:

    seed = SHA-256(b"telegram-sandbox mini app ed25519 seed; public, never a secret")

It is published here on purpose. It stands in for Telegram's key only where the sandbox
stands in for Telegram; no deployed stage trusts it (they use Telegram's public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SEED_TEXT = b"telegram-sandbox mini app ed25519 seed; public, never a secret"
SEED = hashlib.sha256(SEED_TEXT).digest()


def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


def public_key_hex(key: Ed25519PrivateKey | None = None) -> str:
    key = key or private_key()
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def data_check_string(fields: dict, without: tuple[str, ...]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in without)


def webapp_hash(bot_token: str, fields: dict) -> str:
    """The first-party ``hash``: HMAC-SHA256 keyed with HMAC-SHA256("WebAppData", token)."""
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret_key, data_check_string(fields, ("hash",)).encode(), hashlib.sha256).hexdigest()


def webapp_signature(bot_id: int, fields: dict, key: Ed25519PrivateKey | None = None) -> str:
    """The third-party ``signature`` (base64url, no padding) over
    "<bot_id>:WebAppData\\n" + the data-check-string without hash and signature."""
    message = f"{bot_id}:WebAppData\n{data_check_string(fields, ('hash', 'signature'))}".encode()
    raw = (key or private_key()).sign(message)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def launch_fields(bot_token: str, user: dict, auth_date: int, *, key: Ed25519PrivateKey | None = None,
                  **extra) -> dict:
    """Signed launch data for ``user`` (a Telegram user object), as Telegram sends it: the
    ``signature`` first (it is covered by the ``hash``), then the ``hash``. ``extra`` adds or
    overrides fields before signing (None removes one)."""
    bot_id = int(bot_token.split(":", 1)[0])
    fields = {
        "query_id": "AA" + secrets.token_urlsafe(18),
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(auth_date)),
    }
    for k, v in extra.items():
        if v is None:
            fields.pop(k, None)
        else:
            fields[k] = v
    fields["signature"] = webapp_signature(bot_id, fields, key)
    fields["hash"] = webapp_hash(bot_token, fields)
    return fields


def encode(fields: dict) -> str:
    """``tgWebAppData``: the fields as a query string, values percent-encoded (%20, not +)."""
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in fields.items())
