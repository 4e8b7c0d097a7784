"""The sandbox's stand-in for t.me deep links (infra/local/telegram_sandbox/deep_link.py), over
real HTTP: it opens a fake user's chat with the bot and Start sends "/start <payload>", and it
refuses what Telegram refuses."""

from __future__ import annotations

import re

import pytest
import requests

BOT = "site_local_bot"


@pytest.fixture
def sb(telegram_sandbox):
    telegram_sandbox.add_user(710001, "Ann", username="ann", started=False)
    return telegram_sandbox


def start(sb, path: str, **form):
    return requests.post(f"{sb.url}{path}", data=form, allow_redirects=False, timeout=5)


def user_texts(sb, chat_id: int) -> list[str]:
    return [m.get("text") for m in sb.messages(chat_id) if not m["from"]["is_bot"]]


def test_the_page_offers_each_fake_user_and_a_start_button(sb):
    page = requests.get(f"{sb.url}/{BOT}?start=abc_DEF-123", timeout=5)
    assert page.status_code == 200
    assert "Open @site_local_bot in Telegram" in page.text
    assert re.search(r'value="710001"', page.text) and "Ann (@ann)" in page.text
    assert ">Start</button>" in page.text
    assert sb.messages(710001) == []  # opening the link sends nothing; pressing Start does


def test_start_sends_the_payload_as_that_user_and_opens_their_chat(sb):
    answer = start(sb, f"/{BOT}?start=abc_DEF-123", user_id="710001")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/chat/710001")
    assert user_texts(sb, 710001) == ["/start abc_DEF-123"]
    assert sb.link(710001).started
    (update,) = sb.pending_updates()
    assert update["message"]["text"] == "/start abc_DEF-123"
    assert update["message"]["entities"][0]["type"] == "bot_command"


def test_bot_usernames_are_case_insensitive_and_a_link_without_payload_sends_plain_start(sb):
    assert start(sb, "/Site_Local_Bot", user_id="710001").status_code == 302
    assert user_texts(sb, 710001) == ["/start"]


def test_a_new_fake_user_can_open_the_link(sb):
    answer = start(sb, f"/{BOT}?start=tok", user_id="new", first_name="Bea", username="bea")
    assert answer.status_code == 302
    new_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    assert sb.user(new_id).first_name == "Bea"
    assert user_texts(sb, new_id) == ["/start tok"]


def test_start_unblocks_a_bot_the_user_had_blocked(sb):
    sb.add_user(710002, "Cy", started=True)
    sb.block(710002)
    assert start(sb, f"/{BOT}?start=tok", user_id="710002").status_code == 302
    assert not sb.link(710002).blocked
    assert user_texts(sb, 710002) == ["/start tok"]


@pytest.mark.parametrize("payload", ["has space", "x" * 65, "semi;colon", "ä"])
def test_a_start_parameter_telegram_would_refuse_is_refused(sb, payload):
    for answer in (
        requests.get(f"{sb.url}/{BOT}", params={"start": payload}, timeout=5),
        requests.post(f"{sb.url}/{BOT}", params={"start": payload}, data={"user_id": "710001"}, timeout=5),
    ):
        assert answer.status_code == 400
        assert "start parameter" in answer.text
    assert sb.messages(710001) == []


@pytest.mark.parametrize("name", ["foreign_bott", "nobody_bot", "ab", "site_local_bot.js"])
def test_unknown_bots_and_non_bot_names_are_not_found(sb, name):
    assert requests.get(f"{sb.url}/{name}?start=x", timeout=5).status_code == 404
    assert start(sb, f"/{name}?start=x", user_id="710001").status_code == 404


def test_bad_choices_are_refused_without_sending_anything(sb):
    assert start(sb, f"/{BOT}?start=x", user_id="999").status_code == 400
    assert start(sb, f"/{BOT}?start=x", user_id="new", first_name=" ").status_code == 400
    sb.deactivate(710001)
    assert start(sb, f"/{BOT}?start=x", user_id="710001").status_code == 400
    assert sb.messages(710001) == []


def test_the_other_bot_has_its_own_link(sb):
    answer = start(sb, "/foreign_bot?start=x", user_id="710001")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("?bot=7000000002")
    assert sb.messages(710001, bot_id=7000000002)[0]["text"] == "/start x"
    assert sb.messages(710001) == []
