"""
Security notices (issue 13, item 5): Telegram connected or disconnected, an email address
added, changed or removed, a sign-in through a way the account had not used before. Each goes
to every channel the person has, even when they turned everything off, through the real flows:
allauth's email pages, Telegram sign-in and connect against the sandbox, /start tokens, email
sign-in by code, and Django's login() as one-tap's paths call it (contract C3).
"""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model, login
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import mail
from django.test import Client, RequestFactory

from project.accounts.models import SignInMethod
from project.notifications import kinds
from project.notifications.flows import email as email_channel
from project.notifications.flows import preferences
from project.notifications.models import Delivery, Notification
from project.telegram_accounts import providers
from project.telegram_accounts.flows import connect_via_bot, disconnect
from project.telegram_accounts.models import TelegramAccount
from tests.accounts.helpers import last_sign_in_email, request_sign_in, signed_in_user
from tests.telegram_accounts.conftest import TelegramBrowser, next_second

pytestmark = pytest.mark.django_db
User = get_user_model()
CODE = re.compile(r"^\s+([A-Z]{4}-[A-Z]{4})\s*$", re.M)


def notices(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, kind=kinds.SECURITY).order_by("id"))


def where(notification) -> set[tuple]:
    """(channel, address or chat id) of each delivery that is on its way."""
    return {
        (d.channel, d.address or d.chat_id)
        for d in notification.deliveries.all()
        if d.status == Delivery.Status.QUEUED
    }


def mute(user) -> None:
    """Everything off, every kind unticked: security notices must still go out."""
    preferences.save(user, enabled=set(), everything_off=True)


def email_person(address: str, *, signed_in_before: bool = True) -> User:
    user = User.objects.create(username=address.split("@")[0] + "1796027424", email=address)
    EmailAddress.objects.create(user=user, email=address, verified=True, primary=True)
    if signed_in_before:
        User.objects.filter(pk=user.pk).update(last_login="2026-01-01T00:00:00Z")
        user.refresh_from_db()
    mute(user)
    return user


@pytest.fixture
def telegram(client, sandbox):
    providers.clear_oidc_cache()
    yield TelegramBrowser(client, sandbox)
    providers.clear_oidc_cache()


# --- Telegram connected / disconnected -------------------------------------------------------


def test_connecting_through_the_bot_is_told_on_email_and_in_the_new_chat_even_when_muted():
    ada = email_person("ada@example.org")
    token = connect_via_bot.issue_start_token(ada)
    connect_via_bot.redeem_start_token(token, {"id": 900001, "first_name": "Ada", "last_name": "L", "username": "ada_tg"})

    (notice,) = notices(ada)
    assert notice.title == "Telegram was connected to your account"
    assert "The Telegram account Ada L (@ada_tg) was connected to your account" in notice.text
    assert "900001" not in notice.text
    assert where(notice) == {("email", "ada@example.org"), ("telegram", 900001)}
    assert notice.link == "/accounts/#telegram"


def test_connecting_with_the_sign_in_flow_is_told_too(client, telegram, sandbox):
    sandbox.add_user(900002, "Ben", None, "ben_tg", started=False)
    ben = email_person("ben@example.org")
    client.force_login(ben)
    telegram.sign_in("oidc", 900002, process="connect")
    assert TelegramAccount.objects.get(telegram_id=900002).user == ben
    (notice,) = notices(ben)
    assert "Ben (@ben_tg) was connected" in notice.text
    assert where(notice) == {("email", "ben@example.org"), ("telegram", 900002)}


def test_an_account_made_by_a_telegram_sign_in_gets_no_notice(client, telegram, sandbox):
    sandbox.add_user(900003, "Cleo", None, None, started=False)
    telegram.sign_in("legacy", 900003)
    cleo = signed_in_user(client)
    assert cleo is not None and cleo.telegram_account.telegram_id == 900003
    assert notices(cleo) == []
    # Its first way in is remembered, quietly.
    assert list(SignInMethod.objects.filter(user=cleo).values_list("method", flat=True)) == ["telegram"]


def test_disconnecting_is_told_on_email_and_in_the_chat_that_was_disconnected():
    dan = email_person("dan@example.org")
    TelegramAccount.objects.create(user=dan, telegram_id=900004, first_name="Dan")
    assert disconnect.disconnect_telegram(dan) == 900004

    (notice,) = notices(dan)
    assert notice.title == "Telegram was disconnected from your account"
    # The account has no Telegram any more, but the chat that was disconnected hears it.
    assert where(notice) == {("email", "dan@example.org"), ("telegram", 900004)}
    (telegram_delivery,) = notice.deliveries.filter(channel="telegram")  # one line per channel
    assert telegram_delivery.chat_id == 900004 and telegram_delivery.payload["text"]


def test_a_refused_disconnect_tells_nobody_anything():
    eve = User.objects.create(username="tg_900005")  # Telegram is her only way in
    TelegramAccount.objects.create(user=eve, telegram_id=900005, first_name="Eve")
    with pytest.raises(disconnect.CannotDisconnect):
        disconnect.disconnect_telegram(eve)
    assert notices(eve) == []


# --- email addresses ----------------------------------------------------------------------------


def confirmation_code(to: str) -> str:
    message = [m for m in mail.outbox if to in m.to][-1]
    return CODE.search(message.body).group(1)


def test_changing_the_email_tells_the_new_and_the_old_address_and_telegram(client):
    fay = email_person("fay@example.org")
    TelegramAccount.objects.create(user=fay, telegram_id=900006, first_name="Fay")
    client.force_login(fay)
    client.post("/accounts/email/", {"email": "fay.new@example.org", "action_add": "1"})
    assert notices(fay) == []  # an address waiting for its code is no way in yet
    client.post("/accounts/confirm-email/", {"action": "verify", "code": confirmation_code("fay.new@example.org")})

    (notice,) = notices(fay)
    assert notice.title == "Your account's email address was changed"
    assert "from fay@example.org to fay.new@example.org" in notice.text
    assert where(notice) == {("email", "fay.new@example.org"), ("email", "fay@example.org"), ("telegram", 900006)}

    # The sender's email step sends the old address's copy to the old address, though the
    # account no longer has it.
    mail.outbox.clear()
    for delivery in notice.deliveries.filter(channel="email"):
        assert email_channel.send(delivery) == ""
    assert sorted(m.to[0] for m in mail.outbox) == ["fay.new@example.org", "fay@example.org"]
    assert all("changed" in m.subject for m in mail.outbox)


def test_a_telegram_only_account_adding_an_email_is_told(client):
    gus = User.objects.create(username="tg_900007")
    TelegramAccount.objects.create(user=gus, telegram_id=900007, first_name="Gus")
    mute(gus)
    client.force_login(gus)
    client.post("/accounts/email/", {"email": "gus@example.org", "action_add": "1"})
    client.post("/accounts/confirm-email/", {"action": "verify", "code": confirmation_code("gus@example.org")})

    (notice,) = notices(gus)
    assert notice.title == "An email address was added to your account"
    assert "gus@example.org was added" in notice.text
    assert where(notice) == {("email", "gus@example.org"), ("telegram", 900007)}


def test_removing_an_email_tells_that_address_and_the_others(client, settings):
    settings.ACCOUNT_CHANGE_EMAIL = False  # with several addresses, one can be removed
    hal = email_person("hal@example.org")
    EmailAddress.objects.create(user=hal, email="hal.work@example.org", verified=True, primary=False)
    client.force_login(hal)
    response = client.post("/accounts/email/", {"email": "hal.work@example.org", "action_remove": "1"})
    assert response.status_code == 302
    assert not EmailAddress.objects.filter(email="hal.work@example.org").exists()

    (notice,) = notices(hal)
    assert notice.title == "An email address was removed from your account"
    assert "hal.work@example.org was removed" in notice.text
    assert where(notice) == {("email", "hal@example.org"), ("email", "hal.work@example.org")}


def test_removing_an_address_that_was_never_confirmed_is_no_news(client):
    ivy = email_person("ivy@example.org")
    client.force_login(ivy)
    client.post("/accounts/email/", {"email": "ivy.typo@example.org", "action_add": "1"})
    client.post("/accounts/email/", {"email": "ivy.typo@example.org", "action_remove": "1"})
    assert not EmailAddress.objects.filter(email="ivy.typo@example.org").exists()
    assert notices(ivy) == []


# --- sign-ins through a new way -------------------------------------------------------------------


def sign_in_by_email(client, address: str):
    request_sign_in(client, address)
    client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email(address).code})
    return signed_in_user(client)


def test_a_first_email_sign_in_after_telegram_ones_is_told_and_only_once(client, telegram, sandbox):
    sandbox.add_user(900008, "Jo", None, "jo_tg", started=False)
    telegram.sign_in("legacy", 900008)
    jo = signed_in_user(client)
    EmailAddress.objects.create(user=jo, email="jo@example.org", verified=True, primary=True)
    mute(jo)
    client.logout()

    next_second()
    telegram.sign_in("oidc", 900008)  # the other Telegram flow is the same way in: Telegram
    assert signed_in_user(client) == jo
    assert notices(jo) == []
    client.logout()

    assert sign_in_by_email(Client(), "jo@example.org") == jo
    (notice,) = notices(jo)
    assert notice.title == "New sign-in with a code or link sent by email"
    assert where(notice) == {("email", "jo@example.org"), ("telegram", 900008)}

    assert sign_in_by_email(Client(), "jo@example.org") == jo
    assert len(notices(jo)) == 1
    assert set(SignInMethod.objects.filter(user=jo).values_list("method", flat=True)) == {"telegram", "email"}


def test_a_first_telegram_sign_in_of_an_email_account_is_told(client, telegram, sandbox):
    kim = email_person("kim@example.org")
    assert sign_in_by_email(Client(), "kim@example.org") == kim
    assert notices(kim) == []  # the first way on record: nothing new
    sandbox.add_user(900009, "Kim", None, None, started=False)
    TelegramAccount.objects.create(user=kim, telegram_id=900009, first_name="Kim")
    telegram.sign_in("legacy", 900009)
    assert signed_in_user(client) == kim
    (notice,) = notices(kim)
    assert notice.title == "New sign-in with Telegram"


def login_as_one_tap_does(user, method: str):
    """What one-tap's login-URL and Mini App paths do (C3): say how, then django's login()."""
    request = RequestFactory().get("/")
    SessionMiddleware(lambda r: None).process_request(request)
    request.sign_in_method = method
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")


@pytest.mark.parametrize(
    "method, label", [("telegram-button", "a button in a Telegram message"), ("telegram-mini-app", "the Telegram Mini App")]
)
def test_one_tap_sign_ins_say_how_and_a_new_one_is_told(method, label):
    lea = email_person("lea@example.org")
    TelegramAccount.objects.create(user=lea, telegram_id=900010, first_name="Lea")
    assert sign_in_by_email(Client(), "lea@example.org") == lea
    login_as_one_tap_does(lea, method)
    (notice,) = notices(lea)
    assert notice.title == f"New sign-in with {label}"
    assert where(notice) == {("email", "lea@example.org"), ("telegram", 900010)}
    login_as_one_tap_does(lea, method)
    assert len(notices(lea)) == 1


def test_a_sign_in_whose_way_cannot_be_told_records_nothing(client):
    max_ = email_person("max@example.org")
    client.force_login(max_)
    assert not SignInMethod.objects.filter(user=max_).exists()
    assert notices(max_) == []


def test_the_notices_cannot_be_turned_off_on_the_settings_page(client):
    nia = email_person("nia@example.org")
    client.force_login(nia)
    html = client.get("/settings/notifications/").content.decode()
    row = html.split("Account security", 1)[1].split("</tr>", 1)[0]
    assert row.count("disabled") == 2 and row.count("always on") == 2
    # Posting the grid with everything off leaves them on.
    client.post("/settings/notifications/", {"all_off": "on"})
    assert preferences.channels_for(nia, kinds.SECURITY) == list(kinds.CHANNELS)
