"""Both Telegram sign-in flows: the legacy signed redirect and OpenID Connect with PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from infra.local.telegram_sandbox import signing
from infra.local.telegram_sandbox.testing import (DEFAULT_BOT_TOKEN, DEFAULT_OIDC_SECRET,
                                                  FOREIGN_BOT_TOKEN)

BOT_ID = 7000000001
RETURN_TO = "http://127.0.0.1:8000/accounts/telegram/login/callback/?state=abc"


def allauth_decode(result: str) -> dict:
    """Exactly what django-allauth 65.x does with the fragment (after the browser's
    URLSearchParams turned it into a form field, which maps '+' to ' ')."""
    result = result.replace("+", " ")
    padding = "=" * (4 - (len(result) % 4))
    return json.loads(base64.b64decode(result + padding))


def allauth_verifies(data: dict, token: str) -> bool:
    data = dict(data)
    hash_ = data.pop("hash")
    payload = "\n".join(sorted([f"{k}={v}" for k, v in data.items()]))
    expected = hmac.new(hashlib.sha256(token.encode()).digest(), payload.encode(), hashlib.sha256).hexdigest()
    return secrets.compare_digest(hash_, expected) and time.time() - int(data["auth_date"]) <= 30


def test_legacy_flow_through_the_page(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(5001, "Zoë", "Ünal", "zoe", started=False, photo_url="https://t.me/i/userpic/320/z.jpg?x=~>")
    url = f"{sb.url}/auth"
    params = {"bot_id": BOT_ID, "origin": "http://127.0.0.1:8000/", "request_access": "write",
              "embed": "0", "return_to": RETURN_TO}
    page = httpx.get(url, params=params)
    assert page.status_code == 200 and "Zoë" in page.text and 'name="return_to"' in page.text
    answer = httpx.post(url, data={**params, "user_id": "5001", "action": "accept"})
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(RETURN_TO + "#tgAuthResult=")
    fragment = location.split("#tgAuthResult=", 1)[1]
    # Both decoders agree: base64url (what Telegram sends) and allauth's b64decode.
    data = allauth_decode(fragment)
    assert data == signing.decode_auth_result(fragment)
    assert data["id"] == 5001 and data["first_name"] == "Zoë" and data["last_name"] == "Ünal"
    assert data["username"] == "zoe" and data["photo_url"].endswith("?x=~>")
    assert allauth_verifies(data, DEFAULT_BOT_TOKEN)
    assert not allauth_verifies(data, FOREIGN_BOT_TOKEN)
    # request_access=write lets the bot message the user now.
    assert sb.link(5001).allowed_write


def test_legacy_new_user_cancel_and_unknown_bot(telegram_sandbox):
    sb = telegram_sandbox
    params = {"bot_id": BOT_ID, "origin": "http://x/", "return_to": RETURN_TO}
    answer = httpx.post(f"{sb.url}/auth", data={**params, "user_id": "new", "first_name": "New",
                                                "new_id": "6001", "action": "accept"})
    assert answer.status_code == 302 and sb.user(6001).first_name == "New"
    assert not sb.link(6001).allowed_write  # no request_access=write
    cancel = httpx.post(f"{sb.url}/auth", data={**params, "action": "cancel"})
    assert cancel.headers["location"] == RETURN_TO + "#tgAuthResult=false"
    assert httpx.get(f"{sb.url}/auth", params={**params, "bot_id": 123}).status_code == 400


def test_legacy_helpers_sign_and_tamper(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(7001, "Ann", username="ann")
    data = sb.sign_legacy_login(BOT_ID, 7001)
    assert signing.check_legacy_hash(DEFAULT_BOT_TOKEN, data)
    assert allauth_verifies(data, DEFAULT_BOT_TOKEN)
    tampered = dict(data, id=7002)
    assert not signing.check_legacy_hash(DEFAULT_BOT_TOKEN, tampered)
    assert not allauth_verifies(tampered, DEFAULT_BOT_TOKEN)
    old = sb.sign_legacy_login(BOT_ID, 7001, auth_date=int(time.time()) - 3600)
    assert signing.check_legacy_hash(DEFAULT_BOT_TOKEN, old) and not allauth_verifies(old, DEFAULT_BOT_TOKEN)
    foreign = sb.sign_legacy_login(7000000002, 7001)
    assert not allauth_verifies(foreign, DEFAULT_BOT_TOKEN)
    no_username = sb.sign_legacy_login(BOT_ID, 7001, username=None)
    assert "username" not in no_username and allauth_verifies(no_username, DEFAULT_BOT_TOKEN)
    assert allauth_decode(sb.legacy_auth_result(BOT_ID, 7001)) == sb.sign_legacy_login(BOT_ID, 7001)


# ----- OpenID Connect ------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, signing.s256(verifier)


def authorize(sb, user_id: int, challenge: str, scope="openid profile telegram:bot_access",
              redirect_uri="http://127.0.0.1:8000/cb", nonce="n-123") -> str:
    params = {"client_id": str(BOT_ID), "redirect_uri": redirect_uri, "response_type": "code",
              "scope": scope, "state": "st-1", "code_challenge": challenge,
              "code_challenge_method": "S256", "nonce": nonce}
    page = httpx.get(f"{sb.url}/auth", params=params)
    assert page.status_code == 200, page.text
    answer = httpx.post(f"{sb.url}/auth", data={**params, "user_id": str(user_id), "action": "accept"})
    assert answer.status_code == 302
    loc = urlsplit(answer.headers["location"])
    q = parse_qs(loc.query)
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == redirect_uri and q["state"] == ["st-1"]
    return q["code"][0]


def exchange(sb, code, verifier, secret=DEFAULT_OIDC_SECRET, basic=True, redirect_uri="http://127.0.0.1:8000/cb"):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier}
    if basic:
        return httpx.post(f"{sb.url}/token", data=form, auth=(str(BOT_ID), secret))
    return httpx.post(f"{sb.url}/token", data={**form, "client_id": str(BOT_ID), "client_secret": secret})


def test_oidc_flow_end_to_end(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(8001, "Ann", "Lee", "ann", started=False, phone_number="+15550001")
    conf = httpx.get(f"{sb.url}/.well-known/openid-configuration").json()
    assert conf["issuer"] == sb.url and conf["token_endpoint"] == f"{sb.url}/token"
    assert conf["code_challenge_methods_supported"] == ["S256"] and "userinfo_endpoint" not in conf
    verifier, challenge = pkce()
    code = authorize(sb, 8001, challenge)
    answer = exchange(sb, code, verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["access_token"]
    jwks = jwt.PyJWKClient(conf["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(body["id_token"])
    claims = jwt.decode(body["id_token"], key.key, algorithms=["RS256"], audience=str(BOT_ID),
                        issuer=conf["issuer"])
    assert claims["id"] == 8001 and claims["sub"] != "8001" and claims["sub"] == sb.oidc_sub(BOT_ID, 8001)
    assert claims["name"] == "Ann Lee" and claims["preferred_username"] == "ann"
    assert claims["nonce"] == "n-123" and claims["exp"] == claims["iat"] + 3600
    assert "phone_number" not in claims  # no phone scope
    assert sb.link(8001).allowed_write  # telegram:bot_access
    # The code is single use.
    again = exchange(sb, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # client_secret_post works too, and the phone scope adds the number.
    verifier, challenge = pkce()
    code = authorize(sb, 8001, challenge, scope="openid phone")
    claims = jwt.decode(exchange(sb, code, verifier, basic=False).json()["id_token"],
                        options={"verify_signature": False})
    assert claims["phone_number"] == "+15550001" and "name" not in claims


def test_oidc_refusals(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(8002, "Bob")
    verifier, challenge = pkce()
    code = authorize(sb, 8002, challenge)
    bad_secret = exchange(sb, code, verifier, secret="wrong")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    wrong_pkce = exchange(sb, code, "x" * 50)
    assert wrong_pkce.status_code == 400 and wrong_pkce.json()["error"] == "invalid_grant"
    # The failed attempt used the code up.
    assert exchange(sb, code, verifier).json()["error"] == "invalid_grant"
    # Wrong redirect_uri.
    verifier, challenge = pkce()
    code = authorize(sb, 8002, challenge)
    assert exchange(sb, code, verifier, redirect_uri="http://evil/cb").json()["error"] == "invalid_grant"
    # Expired code.
    clock = sb.use_manual_clock()
    verifier, challenge = pkce()
    code = authorize(sb, 8002, challenge)
    clock.advance(301)
    assert exchange(sb, code, verifier).json()["error"] == "invalid_grant"
    # Missing PKCE: error sent back to the client.
    r = httpx.get(f"{sb.url}/auth", params={"client_id": str(BOT_ID), "redirect_uri": "http://127.0.0.1:8000/cb",
                                            "response_type": "code", "scope": "openid", "state": "s"})
    assert r.status_code == 302 and "error=invalid_request" in r.headers["location"]
    # Unknown client: an error page, never a redirect.
    r = httpx.get(f"{sb.url}/auth", params={"client_id": "1", "redirect_uri": "http://x/cb",
                                            "response_type": "code", "scope": "openid", "state": "s"})
    assert r.status_code == 400


def test_make_id_token_helpers(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(8003, "Cy")
    jwks = httpx.get(f"{sb.url}/.well-known/jwks.json").json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    good = sb.make_id_token(BOT_ID, 8003, nonce="abc")
    claims = jwt.decode(good, key, algorithms=["RS256"], audience=str(BOT_ID), issuer=sb.url)
    assert claims["id"] == 8003 and claims["nonce"] == "abc"
    forged = sb.make_id_token(BOT_ID, 8003, foreign=True)
    assert jwt.get_unverified_header(forged)["kid"] == jwks["keys"][0]["kid"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["RS256"], audience=str(BOT_ID))
    other_aud = sb.make_id_token(7000000002, 8003)
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(other_aud, key, algorithms=["RS256"], audience=str(BOT_ID))
    expired = sb.make_id_token(BOT_ID, 8003, exp=int(time.time()) - 10)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(expired, key, algorithms=["RS256"], audience=str(BOT_ID))


def test_state_file_keeps_users_and_update_ids(tmp_path):
    from infra.local.telegram_sandbox import BotConfig, Sandbox

    path = str(tmp_path / "state.json")
    bots = [BotConfig(DEFAULT_BOT_TOKEN, "site_local_bot")]
    first = Sandbox(bots, state_file=path)
    first.add_user(9001, "Kept", username="kept")
    first.block(9001)
    last_id = first.unblock(9001)["update_id"]
    second = Sandbox(bots, state_file=path)
    assert second.user(9001).username == "kept" and second.link(9001).started
    assert second.user_sends(9001, "hi")["update_id"] > last_id
