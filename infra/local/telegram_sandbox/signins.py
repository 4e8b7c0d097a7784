"""Signed sign-in data as Telegram makes it (legacy login data, OIDC ID tokens), for tests.

Part of ``Sandbox`` (state.py)."""

from __future__ import annotations

from dataclasses import asdict

from . import signing
from .objects import _as_user


class SignInsMixin:
    # ----- legacy sign-in ---------------------------------------------------------------

    def sign_legacy_login(self, bot_id: int | None, user, auth_date: int | None = None,
                          **fields) -> dict:
        """The signed JSON Telegram's legacy flow returns for ``user`` (a FakeUser, user id
        or dict). ``fields`` add or override fields before signing (None removes one)."""
        bot = self.bot(bot_id)
        u = _as_user(self, user)
        data: dict = {"id": u.id, "first_name": u.first_name}
        if u.last_name:
            data["last_name"] = u.last_name
        if u.username:
            data["username"] = u.username
        if u.photo_url:
            data["photo_url"] = u.photo_url
        data["auth_date"] = int(auth_date if auth_date is not None else self.now())
        for k, v in fields.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        data["hash"] = signing.legacy_hash(bot.config.token, data)
        return data

    def legacy_auth_result(self, bot_id: int | None, user, auth_date: int | None = None,
                           **fields) -> str:
        """The ``tgAuthResult`` fragment value for ``sign_legacy_login(...)``."""
        return signing.encode_auth_result(self.sign_legacy_login(bot_id, user, auth_date, **fields))

    # ----- OIDC ------------------------------------------------------------------------------

    def make_id_token(self, bot_id: int | None, user, *, scope: str = "openid profile",
                      nonce: str | None = None, issuer: str | None = None,
                      key: signing.SigningKey | None = None, foreign: bool = False,
                      headers: dict | None = None, **claims) -> str:
        """An ID token as ``/token`` issues it. ``claims`` override or add claims (None
        removes one). ``foreign=True`` signs with a fresh key under the real ``kid`` (a
        forgery); ``key=`` signs with a given ``signing.SigningKey``."""
        bot = self.bot(bot_id)
        u = _as_user(self, user)
        body = signing.id_token_claims(
            issuer=issuer or self.issuer_for(), bot_id=bot.id, salt=bot.sub_salt,
            user=asdict(u), scopes=set(scope.split()), nonce=nonce, now=self.now())
        for k, v in claims.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        if foreign:
            key = signing.SigningKey(signing.SigningKey.generate().private_key, self.signing_key.kid)
        return (key or self.signing_key).sign(body, headers)

    def jwks(self) -> dict:
        return {"keys": [self.signing_key.public_jwk()]}

    def oidc_sub(self, bot_id: int | None, user_id: int) -> str:
        return signing.pairwise_sub(self.bot(bot_id).sub_salt, int(user_id))
