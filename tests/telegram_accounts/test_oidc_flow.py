"""The OpenID Connect Telegram sign-in end to end: our site <-> the sandbox over HTTP."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount

from infra.local.telegram_sandbox import oidc as sandbox_oidc
from infra.local.telegram_sandbox import signing as sandbox_signing
from project.accounts.models import User
from project.telegram_accounts.models import TelegramAccount

from .conftest import signed_in_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def misbehaving_telegram(monkeypatch):
    """Make the sandbox's /token issue ID tokens with the given claims changed (a forged or
    misconfigured issuer), everything else about the exchange staying real."""

    def tamper(**overrides):
        original = sandbox_signing.id_token_claims

        def claims(**kwargs):
            body = original(**kwargs)
            body.update(overrides)
            return body

        monkeypatch.setattr(sandbox_oidc.signing, "id_token_claims", claims)

    return tamper


def test_authorization_request_uses_pkce_and_telegram_scopes(browser, settings):
    auth_url = browser.go_to_telegram("oidc")
    query = parse_qs(urlsplit(auth_url).query)
    assert auth_url.startswith(settings.TELEGRAM_OAUTH_BASE_URL + "/auth?")
    assert query["client_id"] == [str(settings.TELEGRAM_BOT_ID)]
    assert set(query["scope"][0].split()) == {"openid", "profile", "telegram:bot_access"}
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["response_type"] == ["code"] and query["state"][0]


def test_first_sign_in_creates_an_account_from_the_id_claim(browser, alice, sandbox):
    response = browser.sign_in("oidc", alice.id)

    assert response.status_code == 302 and response["Location"] == "/"
    user = signed_in_user(browser.client)
    assert user is not None and user.email == ""
    account = SocialAccount.objects.get(user=user)
    # The uid is the Telegram user id (the `id` claim), not the opaque `sub`.
    assert (account.provider, account.uid) == ("telegram-oidc", str(alice.id))
    assert account.uid != sandbox.oidc_sub(None, alice.id)
    link = TelegramAccount.objects.get(user=user)
    assert (link.telegram_id, link.first_name, link.username) == (alice.id, "Alice Liddell", "alice_tg")
    # telegram:bot_access lets the bot write to Alice.
    assert sandbox.link(alice.id).can_receive


def test_signs_in_without_a_userinfo_endpoint(browser, alice, sandbox):
    # Like Telegram, the sandbox's discovery has no userinfo_endpoint: allauth asking for one
    # would fail the sign-in.
    response = browser.sign_in("oidc", alice.id)
    assert response["Location"] == "/"


def _assert_refused(response, caplog, reason: str, client):
    assert response.status_code == 401
    body = response.content.decode()
    assert "Sign-in not completed" in body and 'href="/accounts/login/"' in body
    assert signed_in_user(client) is None
    assert not User.objects.exists()
    refusals = [r.getMessage() for r in caplog.records if r.name == "project.telegram_accounts.login"]
    assert any(m.startswith("telegram oidc login refused: ") and reason in m for m in refusals), refusals


def test_wrong_issuer_is_refused(browser, alice, misbehaving_telegram, caplog):
    misbehaving_telegram(iss="https://evil.example")
    with caplog.at_level(logging.INFO):
        response = browser.sign_in("oidc", alice.id)
    _assert_refused(response, caplog, "id_token iss is not", browser.client)


def test_wrong_audience_is_refused(browser, alice, misbehaving_telegram, caplog):
    misbehaving_telegram(aud="7000000002")
    with caplog.at_level(logging.INFO):
        response = browser.sign_in("oidc", alice.id)
    _assert_refused(response, caplog, "id_token aud is not this stage's bot (7000000001)", browser.client)


def test_expired_token_is_refused(browser, alice, misbehaving_telegram, caplog):
    misbehaving_telegram(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    with caplog.at_level(logging.INFO):
        response = browser.sign_in("oidc", alice.id)
    _assert_refused(response, caplog, "id_token expired", browser.client)


# --- claims and token responses the site cannot use (issue 12 item 7) -----------------------


def test_claims_the_site_does_not_use_are_ignored(browser, alice, misbehaving_telegram, email_user):
    """An `email` the issuer vouches for must neither create a verified address nor lead into
    the account that owns it."""
    from allauth.account.models import EmailAddress

    misbehaving_telegram(email=email_user.email, email_verified=True, phone_number="+15550100")
    response = browser.sign_in("oidc", alice.id)

    assert response.status_code == 302
    user = signed_in_user(browser.client)
    assert user is not None and user != email_user
    assert user.email == ""
    assert not EmailAddress.objects.filter(user=user).exists()
    assert list(EmailAddress.objects.values_list("user", flat=True)) == [email_user.pk]
    extra = SocialAccount.objects.get(user=user).extra_data
    assert "email" not in str(extra) and "phone_number" not in str(extra)


def test_a_token_response_without_an_id_token_is_refused(browser, alice, monkeypatch, caplog):
    monkeypatch.setattr(sandbox_oidc, "OMIT_ID_TOKEN", True)
    with caplog.at_level(logging.INFO):
        response = browser.sign_in("oidc", alice.id)
    _assert_refused(response, caplog, "token response has no id_token", browser.client)


@pytest.mark.parametrize(
    "telegram_id, reason",
    [
        ("alice", "id claim is not a Telegram user id"),
        ("", "id claim is not a Telegram user id"),
        (2**64, "id claim is not a Telegram user id"),
        (2**63, "id claim is not a Telegram user id"),
        (-5, "id claim is not a Telegram user id"),
        (True, "id claim is not a Telegram user id"),
        (500100.5, "id claim is not a Telegram user id"),
        ({"id": 1}, "id claim is not a Telegram user id"),
    ],
)
def test_an_id_claim_that_is_not_a_telegram_user_id_is_refused(browser, alice, misbehaving_telegram, caplog, telegram_id, reason):
    misbehaving_telegram(id=telegram_id)
    with caplog.at_level(logging.INFO):
        response = browser.sign_in("oidc", alice.id)
    _assert_refused(response, caplog, reason, browser.client)


def test_the_largest_64_bit_id_signs_in(browser, alice, misbehaving_telegram):
    misbehaving_telegram(id=2**63 - 1)
    response = browser.sign_in("oidc", alice.id)
    assert response.status_code == 302
    assert TelegramAccount.objects.get().telegram_id == 2**63 - 1


def test_token_signed_with_another_key_is_refused(browser, alice, sandbox, caplog, monkeypatch):
    # Our site has Telegram's published keys; then a token arrives signed by a key that
    # claims the same key id (a forgery). The refresh on an unknown kid does not apply.
    auth_url = browser.go_to_telegram("oidc")
    handoff = browser.pick_user(auth_url, alice.id)
    from project.telegram_accounts import providers

    providers._fetch_json(f"{sandbox.url}/.well-known/jwks.json")
    real_key = sandbox.signing_key
    monkeypatch.setattr(sandbox.sandbox, "signing_key", sandbox_signing.SigningKey.generate(kid=real_key.kid))
    with caplog.at_level(logging.INFO):
        response = browser.finish_oidc(handoff)
    _assert_refused(response, caplog, "id_token signature does not verify", browser.client)


def test_unknown_signing_key_is_refused(browser, alice, sandbox, caplog, monkeypatch):
    monkeypatch.setattr(sandbox.sandbox, "signing_key", sandbox_signing.SigningKey.generate(kid="not-published"))
    # The JWKS the sandbox serves now carries only "not-published"; sign with yet another key.
    original_sign = sandbox_signing.SigningKey.sign
    forger = sandbox_signing.SigningKey.generate(kid="forged")
    monkeypatch.setattr(sandbox_signing.SigningKey, "sign", lambda self, claims, headers=None: original_sign(forger, claims, headers))
    with caplog.at_level(logging.INFO):
        response = browser.sign_in("oidc", alice.id)
    _assert_refused(response, caplog, "id_token signed with unknown key id 'forged'", browser.client)


def test_replayed_state_is_refused(browser, alice, caplog):
    handoff = browser.pick_user(browser.go_to_telegram("oidc"), alice.id)
    assert browser.finish_oidc(handoff)["Location"] == "/"
    browser.client.logout()
    User.objects.all().delete()
    with caplog.at_level(logging.INFO):
        response = browser.finish_oidc(handoff)
    _assert_refused(response, caplog, "unknown, expired or already used state", browser.client)


def test_missing_state_is_refused(browser, alice, caplog):
    handoff = browser.pick_user(browser.go_to_telegram("oidc"), alice.id)
    query = parse_qs(urlsplit(handoff.path).query)
    with caplog.at_level(logging.INFO):
        response = browser.client.get("/accounts/oidc/telegram-oidc/login/callback/", {"code": query["code"][0]})
    _assert_refused(response, caplog, "missing state", browser.client)


def test_error_from_telegram_is_refused_with_its_reason(browser, sandbox, caplog):
    auth_url = browser.go_to_telegram("oidc")
    query = parse_qs(urlsplit(auth_url).query)
    with caplog.at_level(logging.INFO):
        response = browser.client.get(
            "/accounts/oidc/telegram-oidc/login/callback/",
            {"state": query["state"][0], "error": "server_error", "error_description": "try later"},
        )
    _assert_refused(response, caplog, "telegram answered error 'server_error' (try later)", browser.client)


def test_cancel_at_telegram_shows_the_cancelled_page(browser, alice):
    handoff = browser.cancel(browser.go_to_telegram("oidc"))
    response = browser.finish_oidc(handoff)
    assert response.status_code == 302
    page = browser.client.get(response["Location"])
    assert "Sign-in cancelled" in page.content.decode()
    assert signed_in_user(browser.client) is None


def test_flow_not_offered_is_not_found(browser, settings):
    settings.TELEGRAM_LOGIN_FLOWS = ["legacy"]
    assert browser.client.get("/accounts/oidc/telegram-oidc/login/").status_code == 404
    assert browser.client.get("/accounts/oidc/telegram-oidc/login/callback/?code=x&state=y").status_code == 404
