"""Signatures: the legacy login hash and the OpenID Connect ID token.

Legacy ("Telegram Login Widget") data is checked by the receiver as
``hex(HMAC_SHA256(key=SHA256(bot_token), msg=data_check_string))`` where the
data_check_string is every field but ``hash`` as ``key=value``, sorted, joined by ``\\n``.
django-allauth 65.x formats each value with ``f"{v}"`` after ``json.loads``, so integers
(``id``, ``auth_date``) must stay JSON numbers and the hash is computed on ``str(value)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


# --- legacy login --------------------------------------------------------------------------


def data_check_string(data: dict) -> str:
    return "\n".join(sorted(f"{k}={v}" for k, v in data.items() if k != "hash"))


def legacy_hash(bot_token: str, data: dict) -> str:
    key = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(key, data_check_string(data).encode(), hashlib.sha256).hexdigest()


def check_legacy_hash(bot_token: str, data: dict) -> bool:
    return hmac.compare_digest(str(data.get("hash", "")), legacy_hash(bot_token, data))


def encode_auth_result(data: dict) -> str:
    """The ``tgAuthResult`` fragment value: base64url of the JSON, without padding.

    Telegram sends base64url. django-allauth decodes it with ``base64.b64decode`` (standard
    alphabet, non-alphabet characters silently dropped) after the fragment went through the
    browser's ``URLSearchParams`` (which turns ``+`` into a space). Both decoders agree on a
    string that contains none of ``+ / - _``. Those only arise from bytes whose low six bits
    are 0x3E/0x3F (``>``, ``?``, ``~``, DEL) or from non-ASCII bytes, so the JSON is written
    ASCII-only with those characters escaped (``\\u003e`` …): still the same JSON values, and
    the encoding is then identical in both alphabets.
    """
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    for ch in "<>?~\x7f":  # '<' only for symmetry/readability of the escaped JSON
        text = text.replace(ch, "\\u%04x" % ord(ch))
    return base64.urlsafe_b64encode(text.encode("ascii")).decode().rstrip("=")


def decode_auth_result(value: str) -> dict:
    value = value.strip()
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


# --- OpenID Connect -----------------------------------------------------------------------


@dataclass
class SigningKey:
    """An RSA key with its ``kid``, as published in the JWKS."""

    private_key: rsa.RSAPrivateKey
    kid: str = field(default_factory=lambda: secrets.token_hex(8))

    @classmethod
    def generate(cls, kid: str | None = None) -> "SigningKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, kid) if kid else cls(key)

    def public_jwk(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return jwk

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, claims: dict, headers: dict | None = None) -> str:
        hdr = {"kid": self.kid}
        hdr.update(headers or {})
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers=hdr)


def pairwise_sub(salt: bytes, user_id: int) -> str:
    """Opaque, stable per-client subject: HMAC of the user id with the bot's salt.

    Telegram's ``sub`` is not the user id; code that uses ``sub`` as the Telegram id is a
    bug the sandbox should expose, so it is deliberately unrelated to the id.
    """
    mac = hmac.new(salt, str(user_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def id_token_claims(
    *,
    issuer: str,
    bot_id: int,
    salt: bytes,
    user: dict,
    scopes: set[str],
    nonce: str | None = None,
    now: float | None = None,
    lifetime: int = 3600,
) -> dict:
    iat = int(now if now is not None else time.time())
    claims: dict = {
        "iss": issuer,
        "aud": str(bot_id),
        "sub": pairwise_sub(salt, int(user["id"])),
        "iat": iat,
        "exp": iat + lifetime,
        "auth_time": iat,
        "id": int(user["id"]),
    }
    if "profile" in scopes:
        name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
        claims["name"] = name
        if user.get("username"):
            claims["preferred_username"] = user["username"]
        if user.get("photo_url"):
            claims["picture"] = user["photo_url"]
    if "phone" in scopes and user.get("phone_number"):
        claims["phone_number"] = user["phone_number"]
    if nonce:
        claims["nonce"] = nonce
    return claims


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
