"""
allauth's "third-party accounts" page (/accounts/3rdparty/) disconnects for real (issue 12
item 5): its disconnect form goes through the site's one disconnect flow, so the
TelegramAccount and both flows' SocialAccounts go, and the same Telegram no longer signs in
to the account. A GET goes to the account page, where Telegram is managed.
"""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount

from project.telegram_accounts.models import TelegramAccount

from .conftest import TelegramBrowser, next_second, signed_in_user

pytestmark = pytest.mark.django_db


def connect(browser, user, telegram_id):
    browser.client.force_login(user)
    response = browser.sign_in("legacy", telegram_id, process="connect")
    assert response.status_code == 302
    assert TelegramAccount.objects.get(user=user).telegram_id == telegram_id


def test_disconnecting_there_removes_the_link_and_the_telegram_no_longer_signs_in(
    browser, other_browser, sandbox, alice, email_user
):
    connect(browser, email_user, alice.id)
    # Alice also signed in once through the other flow: two SocialAccounts, one link.
    next_second()
    assert other_browser.sign_in("oidc", alice.id).status_code == 302
    assert signed_in_user(other_browser.client) == email_user
    social = SocialAccount.objects.filter(user=email_user)
    assert social.count() == 2

    response = browser.client.post("/accounts/3rdparty/", {"account": social.first().pk})

    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert not TelegramAccount.objects.filter(user=email_user).exists()
    assert not SocialAccount.objects.filter(user=email_user).exists()
    # The same Telegram, through either flow, now signs in to a new account, not this one.
    for flow in ("legacy", "oidc"):
        next_second()
        fresh = TelegramBrowser(type(browser.client)(), sandbox)
        assert fresh.sign_in(flow, alice.id).status_code == 302
        assert signed_in_user(fresh.client) not in (None, email_user)


def test_telegram_as_the_only_way_in_is_not_disconnected_there(browser, alice):
    assert browser.sign_in("legacy", alice.id).status_code == 302
    user = signed_in_user(browser.client)
    account = SocialAccount.objects.get(user=user)

    response = browser.client.post("/accounts/3rdparty/", {"account": account.pk}, follow=True)

    assert "Telegram is your only way to sign in" in response.content.decode()
    assert TelegramAccount.objects.filter(user=user).exists()
    assert SocialAccount.objects.filter(user=user).exists()


def test_the_page_itself_leads_to_the_account_page(browser, email_user):
    browser.client.force_login(email_user)
    response = browser.client.get("/accounts/3rdparty/")
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert browser.client.get("/accounts/social/connections/", follow=True).redirect_chain[-1][0] == "/accounts/"


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.post("/accounts/3rdparty/", {"account": "1"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
