"""login_url buttons end to end: the bot's real message in the sandbox, a fake user's press
(signed by the sandbox as Telegram signs it), the site's endpoint through Django's client."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse

from project.accounts.models import User
from project.bot.buttons import NotASitePath, site_button
from project.telegram_accounts.flows import login_url, one_tap
from project.telegram_accounts.models import TelegramAccount

from .conftest import next_second, signed_in_user
from .one_tap import (assert_nothing_carries, button_url, known_to, link, open_in_telegram_app, press,
                      query_of, refusals, send_site_button, sign_in_by_email)

pytestmark = pytest.mark.django_db

BUTTON = one_tap.BUTTON
FOREIGN_BOT = "foreign_bot"


ADA_TELEGRAM_ID = 600100  # the ada_tg fixture (conftest.py)


# --- the button -------------------------------------------------------------------------------


def test_site_button_is_a_login_url_button_to_the_endpoint_with_the_path(settings):
    assert reverse("telegram_login_url") == login_url.ENDPOINT_PATH
    button = site_button("Open on the site", "/requests/12/?tab=all", write_access=True)
    assert button == {
        "text": "Open on the site",
        "login_url": {
            "url": settings.SITE_URL + "/accounts/telegram/button/?" + urlencode({"next": "/requests/12/?tab=all"}),
            "request_write_access": True,
        },
    }
    assert "request_write_access" not in site_button("Open", "/")["login_url"]
    for not_a_path in ("https://evil.example/", "//evil.example", "/\\evil.example", "requests/12/"):
        with pytest.raises(NotASitePath):
            site_button("Open", not_a_path)


# --- signing in -------------------------------------------------------------------------------


def test_press_signs_in_the_linked_account_and_lands_on_the_page(client, sandbox, ada, ada_tg, sign_ins):
    # Ada has signed in on the site in this browser before (by email), and signed out since.
    sign_in_by_email(client, ada)
    path = button_url(sandbox, ada_tg.id, "/requests/12/")
    fields = query_of(path)
    assert set(fields) == {"next", "id", "first_name", "last_name", "username", "auth_date", "hash"}

    response = open_in_telegram_app(client, path)

    assert response.status_code == 302 and response["Location"] == "/requests/12/"
    assert signed_in_user(client) == ada
    assert len(sign_ins.seen) == 2 and sign_ins.seen[-1] == (ada.pk, "telegram-button")  # contract C3
    records = client.session["account_authentication_methods"]
    assert records[-1]["method"] == "socialaccount" and records[-1]["via"] == "telegram-button"
    assert records[-1]["uid"] == str(ada_tg.id)


def test_a_button_that_asks_for_write_access_lets_the_bot_write(client, sandbox, ada):
    quiet = sandbox.add_user(600200, "Quiet", started=True)
    grace = User.objects.create_user(username="grace", email="grace@example.com")
    link(grace, quiet)
    plain = send_site_button(sandbox, quiet.id, "/")
    open_in_telegram_app(known_to(client, grace), press(sandbox, quiet.id, plain))
    assert not sandbox.link(quiet.id).allowed_write
    asking = send_site_button(sandbox, quiet.id, "/", write_access=True)
    next_second()

    open_in_telegram_app(known_to(Client(), grace), press(sandbox, quiet.id, asking))

    assert sandbox.link(quiet.id).allowed_write
    assert signed_in_user(client) == grace


def test_already_signed_in_as_that_account_goes_straight_to_the_page(client, sandbox, ada, ada_tg, sign_ins):
    client.force_login(ada)
    response = open_in_telegram_app(client, button_url(sandbox, ada_tg.id, "/notifications/"))
    assert response["Location"] == "/notifications/"
    assert signed_in_user(client) == ada and sign_ins.seen == [(ada.pk, None)]  # only force_login


# --- refusals: nobody signed in, the real reason logged, no one-use token anywhere -----------


def _assert_refused(response, caplog, reason: str, client, *tokens):
    assert response.status_code == 400
    body = response.content.decode()
    assert "Sign-in not completed" in body and "Nothing was changed." in body
    assert signed_in_user(client) is None
    found = refusals(caplog, BUTTON)
    assert any(reason in m for m in found), found
    assert_nothing_carries(tokens, caplog, response)


def _tamper(path: str, **changes) -> str:
    fields = query_of(path)
    fields.update(changes)
    return login_url.ENDPOINT_PATH + "?" + urlencode({k: v for k, v in fields.items() if v is not None})


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"id": "600999"}, "hash mismatch (not signed with this stage's bot token)"),  # forged: someone else's id
        ({"first_name": "Eve"}, "hash mismatch"),  # tampered
        ({"hash": "0" * 64}, "hash mismatch"),  # forged hash
        ({"extra": "1"}, "hash mismatch"),  # a field Telegram did not sign
        ({"hash": None}, "malformed login_url fields: no hash"),
        ({"id": "12a"}, "malformed login_url fields: id is not a number"),
        ({"auth_date": "1e9"}, "malformed login_url fields: auth_date is not a number"),
    ],
)
def test_forged_or_tampered_fields_are_refused(client, sandbox, ada, ada_tg, caplog, changes, reason):
    path = button_url(sandbox, ada_tg.id, "/requests/12/")
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(client, _tamper(path, **changes))
    _assert_refused(response, caplog, reason, client, query_of(path)["hash"])
    assert "Go on to the page" in response.content.decode() and 'href="/requests/12/"' in response.content.decode()


def test_a_field_given_twice_is_refused(client, sandbox, ada, ada_tg, caplog):
    path = button_url(sandbox, ada_tg.id, "/")
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(client, path + "&id=600999")
    _assert_refused(response, caplog, "'id' given 2 times", client, query_of(path)["hash"])


def test_another_bots_signed_fields_are_refused(client, sandbox, ada, ada_tg, caplog):
    """A button whose login_url names another bot is signed with that bot's token."""
    button = site_button("Open", "/")
    button["login_url"]["bot_username"] = FOREIGN_BOT
    import httpx
    from django.conf import settings

    token = settings.LOCAL_SECRETS["telegram_bot_token"]
    sent = httpx.post(f"{sandbox.url}/bot{token}/sendMessage",
                      json={"chat_id": ada_tg.id, "text": "x", "reply_markup": {"inline_keyboard": [[button]]}})
    path = press(sandbox, ada_tg.id, sent.json()["result"]["message_id"])
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(client, path)
    _assert_refused(response, caplog, "hash mismatch (not signed with this stage's bot token)", client,
                    query_of(path)["hash"])


# The age in the logged reason is measured when the site checks it: on a busy machine a few
# seconds after signing, so only its wording is compared.
@pytest.mark.parametrize("age, reason", [(45, "auth_date too old ("), (-120, "auth_date in the future")])
def test_stale_or_future_fields_are_refused(client, sandbox, ada, ada_tg, caplog, age, reason):
    signed = sandbox.sign_legacy_login(None, ada_tg, auth_date=int(time.time()) - age)
    path = login_url.ENDPOINT_PATH + "?" + urlencode({"next": "/", **signed})
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(client, path)
    _assert_refused(response, caplog, reason, client, signed["hash"])


def test_a_press_signs_in_once(client, sandbox, ada, ada_tg, caplog):
    path = button_url(sandbox, ada_tg.id, "/requests/12/")
    assert open_in_telegram_app(known_to(client, ada), path)["Location"] == "/requests/12/"
    thief = known_to(Client(), ada)  # even a browser Ada has used
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(thief, path)
    _assert_refused(response, caplog, "signed login data already used (replayed)", thief, query_of(path)["hash"])


def test_a_pressed_buttons_fields_cannot_sign_in_again_through_the_legacy_callback(
    client, other_browser, sandbox, ada, ada_tg, caplog
):
    """Both carry the same signature over the same fields: one namespace of used results."""
    from infra.local.telegram_sandbox.signing import encode_auth_result

    path = button_url(sandbox, ada_tg.id, "/")
    assert open_in_telegram_app(known_to(client, ada), path)["Location"] == "/"
    fields = {k: v for k, v in query_of(path).items() if k != "next"}
    handoff = other_browser.pick_user(other_browser.go_to_telegram("legacy"), ada_tg.id)
    with caplog.at_level(logging.INFO):
        response = other_browser.finish_legacy(handoff, encode_auth_result(fields))
    assert response.status_code == 401 and signed_in_user(other_browser.client) is None
    assert any("signed login data already used" in r.getMessage() for r in caplog.records)


def test_legacy_sign_in_result_cannot_be_pressed_again_as_a_button(browser, sandbox, ada, ada_tg, caplog):
    from infra.local.telegram_sandbox.signing import decode_auth_result

    handoff = browser.pick_user(browser.go_to_telegram("legacy"), ada_tg.id)
    assert browser.finish_legacy(handoff).status_code == 302
    fields = decode_auth_result(handoff.auth_result)
    thief = known_to(Client(), ada)
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(thief, login_url.ENDPOINT_PATH + "?" + urlencode({"next": "/", **fields}))
    _assert_refused(response, caplog, "already used", thief, fields["hash"])


# --- the target: a path of this site, never anywhere else --------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "///evil.example",
        "/\t/evil.example",
        " //evil.example",
        "%2F%2Fevil.example",
        "/%2F%2Fevil.example",
        "/%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "/%09/evil.example",
        "evil.example",
        "/caf\u00e9",
    ],
)
def test_no_open_redirect_through_the_target(client, sandbox, ada, ada_tg, caplog, target):
    signed = sandbox.sign_legacy_login(None, ada_tg)
    with caplog.at_level(logging.INFO):
        response = open_in_telegram_app(known_to(client, ada),
                                        login_url.ENDPOINT_PATH + "?" + urlencode({"next": target, **signed}))
    # Still signed in (the signature is Telegram's and fine); only the target is refused.
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_user(client) == ada
    assert any("target refused" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("raw_query", ["next=%2F%2Fevil.example", "next=%2F%5Cevil.example", "next=https%3A%2F%2Fevil.example"])
def test_no_open_redirect_with_a_hand_encoded_target(client, sandbox, ada, ada_tg, raw_query):
    signed = sandbox.sign_legacy_login(None, ada_tg)
    response = open_in_telegram_app(known_to(client, ada), f"{login_url.ENDPOINT_PATH}?{raw_query}&{urlencode(signed)}")
    assert response["Location"] == "/"


def test_safe_targets_are_kept():
    for path in ("/", "/requests/12/", "/requests/?tab=sent&page=2", "/a%20b/", "/accounts/telegram/continue/"):
        assert one_tap.safe_target(path) == path


# --- people without a linked account, or signed in as someone else -------------------------------


def _choice_page(client, sandbox, fake, target="/requests/12/"):
    response = open_in_telegram_app(client, button_url(sandbox, fake.id, target))
    assert response.status_code == 302 and response["Location"] == reverse("telegram_one_tap_choice")
    return client.get(response["Location"]).content.decode()


def test_unlinked_telegram_user_chooses_to_make_an_account(client, sandbox, sign_ins):
    newcomer = sandbox.add_user(600300, "Nell", None, "nell_tg", started=True)
    page = _choice_page(client, sandbox, newcomer)
    assert "Welcome from Telegram" in page and "Continue with Telegram" in page and "sign in by email" in page
    assert signed_in_user(client) is None  # nothing behind their back

    response = client.post(reverse("telegram_one_tap_choice"), {"action": "create"})

    assert response.status_code == 302 and response["Location"] == "/requests/12/"
    user = signed_in_user(client)
    assert user is not None and user.email == ""
    assert TelegramAccount.objects.get(user=user).telegram_id == newcomer.id
    assert sign_ins.seen == [(user.pk, "telegram-button")]


def test_unlinked_telegram_user_signed_in_by_email_connects_it_on_telegrams_own_page(browser, client, sandbox,
                                                                                     email_user):
    """"Connect Telegram" runs the session-bound legacy sign-in with process=connect (as the
    account page does), never the identity waiting in the session: the press's fields prove
    who pressed in Telegram, not that this browser is theirs."""
    newcomer = sandbox.add_user(600301, "Carol", started=True)
    client.force_login(email_user)
    page = _choice_page(client, sandbox, newcomer)
    assert "Connect Telegram?" in page and 'value="connect"' not in page
    connect = "/accounts/telegram/login/?process=connect&amp;next=%2Frequests%2F12%2F"
    assert connect in page

    # Posting the old action links nothing.
    assert client.post(reverse("telegram_one_tap_choice"), {"action": "connect"}).status_code == 400
    assert not TelegramAccount.objects.filter(user=email_user).exists()

    next_second()  # the press's signed fields (same person, same second) were spent by the press
    response = browser.sign_in("legacy", newcomer.id, process="connect", next_url="/requests/12/")

    assert response["Location"] == "/requests/12/"
    assert signed_in_user(client) == email_user
    assert TelegramAccount.objects.get(user=email_user).telegram_id == newcomer.id


def test_a_waiting_identity_does_not_survive_an_email_sign_in(client, sandbox, email_user):
    """The identity waits for the person it arrived for (here: nobody signed in); signing in
    (by email) drops it, so it can never be offered to the account signed in afterwards."""
    newcomer = sandbox.add_user(600302, "Carol", started=True)
    page = _choice_page(client, sandbox, newcomer)
    assert f'href="/accounts/login/?next={reverse("account")}%23telegram"' in page
    client.force_login(email_user)  # the email sign-in itself has its own tests
    assert client.get(reverse("telegram_one_tap_choice"))["Location"] == reverse("account_login")
    assert client.post(reverse("telegram_one_tap_choice"), {"action": "stay"})["Location"] == reverse("account_login")
    assert client.session.get(one_tap.PENDING_KEY) is None
    assert not TelegramAccount.objects.filter(user=email_user).exists()


def test_a_waiting_identity_does_not_survive_a_sign_out(client, sandbox, ada, ada_tg, email_user):
    client.force_login(email_user)
    _choice_page(client, sandbox, ada_tg)
    client.post(reverse("account_logout"))
    assert client.post(reverse("telegram_one_tap_choice"), {"action": "continue"})["Location"] == reverse("account_login")
    assert signed_in_user(client) is None


def test_signed_in_as_someone_else_is_asked_before_switching(client, sandbox, ada, ada_tg, email_user, sign_ins):
    client.force_login(email_user)
    page = _choice_page(client, sandbox, ada_tg)
    assert "Switch accounts?" in page and "Switch to ada@example.com" in page
    assert signed_in_user(client) == email_user  # not switched yet

    response = client.post(reverse("telegram_one_tap_choice"), {"action": "switch"})

    assert response["Location"] == "/requests/12/"
    assert signed_in_user(client) == ada
    assert sign_ins.seen[-1] == (ada.pk, "telegram-button")


def test_staying_signed_in_as_oneself_changes_nothing(client, sandbox, ada_tg, ada, email_user):
    client.force_login(email_user)
    _choice_page(client, sandbox, ada_tg)
    response = client.post(reverse("telegram_one_tap_choice"), {"action": "stay"})
    assert response["Location"] == "/requests/12/"
    assert signed_in_user(client) == email_user
    # The choice is used once.
    assert client.post(reverse("telegram_one_tap_choice"), {"action": "switch"})["Location"] == reverse("account_login")
    assert signed_in_user(client) == email_user


def test_a_waiting_choice_expires(client, sandbox, ada_tg, ada, email_user, settings):
    client.force_login(email_user)
    _choice_page(client, sandbox, ada_tg)
    settings.TELEGRAM_ONE_TAP_PENDING_TTL = -1
    assert client.get(reverse("telegram_one_tap_choice"))["Location"] == reverse("account_login")
    assert client.post(reverse("telegram_one_tap_choice"), {"action": "switch"})["Location"] == reverse("account_login")
    assert signed_in_user(client) == email_user


def test_an_unknown_choice_is_a_bad_request(client, sandbox, ada_tg, ada, email_user):
    client.force_login(email_user)
    _choice_page(client, sandbox, ada_tg)
    assert client.post(reverse("telegram_one_tap_choice"), {"action": "delete-everything"}).status_code == 400
    assert signed_in_user(client) == email_user


def test_the_same_telegram_user_pressing_twice_a_second_is_one_sign_in(client, sandbox, ada, ada_tg):
    """The sandbox signs whole seconds, as Telegram does: the same person's two presses
    within a second carry the very same signed fields, which sign in once."""
    first = button_url(sandbox, ada_tg.id, "/")
    next_second()
    second = button_url(sandbox, ada_tg.id, "/")
    assert query_of(first)["hash"] != query_of(second)["hash"]
    assert open_in_telegram_app(known_to(Client(), ada), first)["Location"] == "/"
    assert open_in_telegram_app(known_to(Client(), ada), second)["Location"] == "/"
