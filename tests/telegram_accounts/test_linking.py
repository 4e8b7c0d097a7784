"""One Telegram account = one site account, across both flows; connect and disconnect."""

from __future__ import annotations

import logging

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.messages import get_messages

from project.accounts.models import User
from project.telegram_accounts.models import TelegramAccount

from .conftest import next_second, signed_in_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("first, second", [("legacy", "oidc"), ("oidc", "legacy")])
def test_same_telegram_id_through_both_flows_is_one_account(browser, other_browser, alice, first, second):
    browser.sign_in(first, alice.id)
    user = signed_in_user(browser.client)

    response = other_browser.sign_in(second, alice.id)

    assert response["Location"] == "/"
    assert signed_in_user(other_browser.client) == user
    assert User.objects.count() == 1
    assert sorted(SocialAccount.objects.filter(user=user).values_list("provider", flat=True)) == ["telegram", "telegram-oidc"]
    assert TelegramAccount.objects.get().user == user
    # And once more through the second flow: still the same account, nothing new.
    browser.client.logout()
    next_second()
    browser.sign_in(second, alice.id)
    assert signed_in_user(browser.client) == user and SocialAccount.objects.count() == 2


def test_two_telegram_users_get_two_accounts(browser, other_browser, alice, bob):
    browser.sign_in("legacy", alice.id)
    other_browser.sign_in("oidc", bob.id)
    assert signed_in_user(browser.client) != signed_in_user(other_browser.client)
    assert User.objects.count() == 2


def test_sign_in_refreshes_the_telegram_names(browser, other_browser, alice, sandbox):
    browser.sign_in("legacy", alice.id)
    sandbox.add_user(alice.id, "Alicia", None, "alicia_tg", started=False)
    other_browser.sign_in("legacy", alice.id)
    link = TelegramAccount.objects.get()
    assert (link.first_name, link.last_name, link.username) == ("Alicia", "", "alicia_tg")


@pytest.mark.parametrize("flow", ["legacy", "oidc"])
def test_email_account_connects_telegram(browser, email_user, alice, flow):
    browser.client.force_login(email_user)
    response = browser.sign_in(flow, alice.id, process="connect")

    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert signed_in_user(browser.client) == email_user
    link = TelegramAccount.objects.get(user=email_user)
    assert link.telegram_id == alice.id
    assert SocialAccount.objects.get(user=email_user).uid == str(alice.id)
    assert User.objects.count() == 1
    # Signing in with Telegram later lands in the email account, whichever flow.
    browser.client.logout()
    other = "oidc" if flow == "legacy" else "legacy"
    browser.sign_in(other, alice.id)
    assert signed_in_user(browser.client) == email_user


@pytest.mark.parametrize("flow", ["legacy", "oidc"])
def test_connecting_a_telegram_account_that_belongs_to_someone_else_says_so(
    browser, other_browser, email_user, alice, flow, caplog
):
    other_browser.sign_in("legacy", alice.id)
    owner = signed_in_user(other_browser.client)
    next_second()  # a fresh signature, as a real second sign-in would have

    browser.client.force_login(email_user)
    with caplog.at_level(logging.INFO):
        response = browser.sign_in(flow, alice.id, process="connect")

    assert response.status_code == 302 and response["Location"] == "/accounts/"
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("already connected to another account" in t for t in texts), texts
    assert TelegramAccount.objects.get().user == owner
    assert not SocialAccount.objects.filter(user=email_user).exists()
    assert signed_in_user(browser.client) == email_user
    assert any("connect refused" in r.getMessage() and "belongs to another user" in r.getMessage() for r in caplog.records)


def test_connecting_a_second_telegram_account_is_refused(browser, email_user, alice, bob):
    browser.client.force_login(email_user)
    browser.sign_in("legacy", alice.id, process="connect")
    response = browser.sign_in("oidc", bob.id, process="connect")
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("already connected to another Telegram account" in t for t in texts), texts
    assert TelegramAccount.objects.get(user=email_user).telegram_id == alice.id
    assert not TelegramAccount.objects.filter(telegram_id=bob.id).exists()


def test_email_account_can_disconnect_telegram(browser, email_user, alice):
    browser.client.force_login(email_user)
    browser.sign_in("legacy", alice.id, process="connect")
    browser.sign_in("oidc", alice.id, process="connect")
    assert SocialAccount.objects.filter(user=email_user).count() == 2

    response = browser.client.post("/accounts/telegram/disconnect/")

    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert not TelegramAccount.objects.exists()
    assert not SocialAccount.objects.exists()
    # Signing in with that Telegram account no longer reaches the email account.
    browser.client.logout()
    next_second()
    browser.sign_in("legacy", alice.id)
    assert signed_in_user(browser.client) != email_user


def test_telegram_only_account_cannot_disconnect(browser, alice):
    browser.sign_in("oidc", alice.id)
    user = signed_in_user(browser.client)

    response = browser.client.post("/accounts/telegram/disconnect/")

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("only way to sign in" in t for t in texts), texts
    assert TelegramAccount.objects.get().user == user
    assert SocialAccount.objects.filter(user=user).exists()


def test_disconnect_needs_post_and_sign_in(client, db):
    assert client.get("/accounts/telegram/disconnect/").status_code in (302, 405)
    response = client.post("/accounts/telegram/disconnect/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_telegram_only_account_can_disconnect_once_it_has_a_confirmed_email(browser, alice):
    from allauth.account.models import EmailAddress

    browser.sign_in("legacy", alice.id)
    user = signed_in_user(browser.client)
    address = EmailAddress.objects.create(user=user, email="alice@example.com", verified=False, primary=True)
    browser.client.post("/accounts/telegram/disconnect/")
    assert TelegramAccount.objects.filter(user=user).exists()  # an unconfirmed email is no way in

    address.verified = True
    address.save()
    browser.client.post("/accounts/telegram/disconnect/")
    assert not TelegramAccount.objects.filter(user=user).exists()
    assert not SocialAccount.objects.filter(user=user).exists()
