"""
The legacy Telegram sign-in (allauth's `telegram` provider): checking what Telegram sends back.

Telegram redirects to our callback with `#tgAuthResult=<base64 JSON>` in the fragment; a
script on the callback page posts it to us. The data is trusted only if its `hash` is the
HMAC-SHA256 of the other fields keyed with SHA256(our bot token) (so data signed for another
bot fails too) and `auth_date` is recent. Each refusal carries its real reason for the log;
the person sees one clear page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time


class LoginRefused(Exception):
    """Telegram login data that signs no one in. `reason` is for the log (never holds a secret)."""

    def __init__(self, reason: str, *, public: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.public = public or "Telegram could not confirm who you are."


def decode_auth_result(raw: str) -> dict:
    """The JSON object inside `tgAuthResult` (base64url or base64, padding optional)."""
    raw = (raw or "").strip()
    if not raw:
        raise LoginRefused("malformed tgAuthResult: empty")
    if raw == "false":
        # What Telegram sends when the person declined.
        raise LoginRefused("cancelled by the user", public="The Telegram sign-in was cancelled.")
    if len(raw) > 8192:
        raise LoginRefused(f"malformed tgAuthResult: too long ({len(raw)} characters)")
    padded = raw + "=" * (-len(raw) % 4)
    try:
        text = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        data = json.loads(text)
    except (binascii.Error, ValueError) as exc:
        raise LoginRefused(f"malformed tgAuthResult: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise LoginRefused("malformed tgAuthResult: not a JSON object")
    for field in ("id", "auth_date", "hash"):
        if field not in data:
            raise LoginRefused(f"malformed tgAuthResult: no {field}")
    if not isinstance(data["hash"], str):
        raise LoginRefused("malformed tgAuthResult: hash is not a string")
    try:
        telegram_id = int(data["id"])
        int(data["auth_date"])
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise LoginRefused("malformed tgAuthResult: id or auth_date is not a number") from None
    if isinstance(data["id"], bool) or not 0 < telegram_id < 2**63:
        # TelegramAccount.telegram_id is a 64-bit integer: a larger one is not a Telegram user.
        raise LoginRefused("malformed tgAuthResult: id is not a Telegram user id")
    return data


def expected_hash(bot_token: str, data: dict) -> str:
    data_check_string = "\n".join(sorted(f"{k}={v}" for k, v in data.items() if k != "hash"))
    key = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(key, data_check_string.encode(), hashlib.sha256).hexdigest()


def verify(data: dict, *, bot_token: str, max_age: int, now: float | None = None) -> dict:
    """The signed fields without `hash`, if the signature and age check out; LoginRefused otherwise."""
    # Bytes, not str: compare_digest refuses non-ASCII str, and the hash is attacker input.
    if not hmac.compare_digest(str(data["hash"]).encode(), expected_hash(bot_token, data).encode()):
        # Also what another bot's data looks like: it was keyed with that bot's token.
        raise LoginRefused("hash mismatch (not signed with this stage's bot token)")
    now = time.time() if now is None else now
    age = now - int(data["auth_date"])
    if age > max_age:
        raise LoginRefused(
            f"auth_date too old ({int(age)} s > {max_age} s)",
            public="The Telegram sign-in took too long or was used before. Please try again.",
        )
    if age < -max_age:
        raise LoginRefused(f"auth_date in the future ({int(-age)} s ahead)")
    return {k: v for k, v in data.items() if k != "hash"}
