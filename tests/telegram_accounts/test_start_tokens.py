"""Connecting through the bot: t.me/<bot>?start=<token>, redeemed by the webhook's /start."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from project.accounts.models import User
from project.telegram_accounts.flows.connect_via_bot import (
    MAX_OPEN_TOKENS,
    InvalidStartToken,
    issue_start_token,
    redeem_start_token,
    start_link,
)
from project.telegram_accounts.models import StartToken, TelegramAccount

pytestmark = pytest.mark.django_db

ALICE = {"id": 500100, "first_name": "Alice", "last_name": "Liddell", "username": "alice_tg", "is_bot": False}
BOB = {"id": 500200, "first_name": "Bob", "is_bot": False}


@pytest.fixture
def user(db):
    return User.objects.create_user(username="carol", email="carol@example.com")


@pytest.fixture
def other_user(db):
    return User.objects.create_user(username="dave", email="dave@example.com")


def test_start_link_is_a_telegram_deep_link_with_a_valid_parameter(user, settings):
    settings.TELEGRAM_BOT_USERNAME = "site_dev_bot"
    settings.TELEGRAM_DEEP_LINK_BASE = "https://t.me"  # deployed; locally the sandbox (C6)
    link = start_link(user)
    match = re.fullmatch(r"https://t\.me/site_dev_bot\?start=([A-Za-z0-9_-]{1,64})", link)
    assert match, link
    token = match.group(1)
    stored = StartToken.objects.get(user=user)
    # Only a hash is stored.
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    # Locally the same link leads to the sandbox's stand-in for t.me.
    settings.TELEGRAM_DEEP_LINK_BASE = "http://127.0.0.1:8081/"
    assert re.fullmatch(r"http://127\.0\.0\.1:8081/site_dev_bot\?start=[A-Za-z0-9_-]{32}", start_link(user))


def test_redeeming_links_the_chat_to_the_account(user):
    token = issue_start_token(user)
    account = redeem_start_token(token, ALICE)
    assert (account.user, account.telegram_id, account.username, account.reachable) == (user, 500100, "alice_tg", True)
    assert TelegramAccount.objects.for_chat(500100).user == user
    stored = StartToken.objects.get()
    assert stored.used_at is not None and stored.used_by_telegram_id == 500100


def test_a_token_works_once(user):
    token = issue_start_token(user)
    redeem_start_token(token, ALICE)
    with pytest.raises(InvalidStartToken) as refused:
        redeem_start_token(token, ALICE)
    assert refused.value.reason == "used"


def test_an_expired_token_is_refused(user, settings):
    settings.TELEGRAM_START_TOKEN_TTL = 600
    token = issue_start_token(user)
    assert StartToken.objects.get().expires_at - timezone.now() <= timedelta(seconds=600)
    StartToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvalidStartToken) as refused:
        redeem_start_token(token, ALICE)
    assert refused.value.reason == "expired"
    assert not TelegramAccount.objects.exists()


@pytest.mark.parametrize("token", ["", "nope", "x" * 65, "a" * 32])
def test_an_unknown_token_is_refused(user, token):
    issue_start_token(user)
    with pytest.raises(InvalidStartToken) as refused:
        redeem_start_token(token, ALICE)
    assert refused.value.reason == "unknown"


def test_a_telegram_account_of_another_user_is_refused(user, other_user):
    redeem_start_token(issue_start_token(other_user), ALICE)
    token = issue_start_token(user)
    with pytest.raises(InvalidStartToken) as refused:
        redeem_start_token(token, ALICE)
    assert refused.value.reason == "telegram account belongs to another user"
    assert TelegramAccount.objects.get(telegram_id=500100).user == other_user
    # Not consumed: the person can still use it once the conflict is resolved.
    assert StartToken.objects.get(user=user).used_at is None


def test_an_account_with_another_telegram_is_refused(user):
    redeem_start_token(issue_start_token(user), ALICE)
    with pytest.raises(InvalidStartToken) as refused:
        redeem_start_token(issue_start_token(user), BOB)
    assert refused.value.reason == "site account already linked to another telegram account"


def test_redeeming_again_for_the_same_pair_refreshes_and_marks_reachable(user):
    account = redeem_start_token(issue_start_token(user), ALICE)
    account.mark_unreachable("Forbidden: bot was blocked by the user")
    account = redeem_start_token(issue_start_token(user), {**ALICE, "username": "alice_new"})
    assert account.reachable and account.username == "alice_new"
    assert TelegramAccount.objects.count() == 1


def test_a_user_holds_a_bounded_number_of_open_tokens(user):
    tokens = [issue_start_token(user) for _ in range(MAX_OPEN_TOKENS + 3)]
    assert StartToken.objects.filter(user=user).count() == MAX_OPEN_TOKENS
    redeem_start_token(tokens[-1], ALICE)  # the newest still works
    with pytest.raises(InvalidStartToken):
        redeem_start_token(tokens[0], ALICE)


def test_tokens_are_bound_to_their_account(user, other_user):
    token = issue_start_token(user)
    account = redeem_start_token(token, BOB)
    assert account.user == user
    assert not TelegramAccount.objects.filter(user=other_user).exists()
