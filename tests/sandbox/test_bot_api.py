"""The Bot API subset through python-telegram-bot's real Bot over real HTTP."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import warnings
from datetime import timedelta

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from infra.local.telegram_sandbox import Limits
from infra.local.telegram_sandbox.testing import DEFAULT_BOT_TOKEN, FOREIGN_BOT_TOKEN

# PTB 22 announces that retry_after/duration become timedeltas; not this suite's concern.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

USER = 424242


def run(coro_fn, sandbox, token=DEFAULT_BOT_TOKEN, **request_kw):
    async def main():
        bot = Bot(token, base_url=sandbox.api_base, request=HTTPXRequest(**request_kw) if request_kw else None)
        try:
            return await coro_fn(bot)
        finally:
            await bot.shutdown()

    return asyncio.run(main())


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta
        warnings.simplefilter("ignore")
        ra = exc.retry_after
    return ra.total_seconds() if isinstance(ra, timedelta) else float(ra)


def test_get_me(telegram_sandbox):
    me = run(lambda bot: bot.get_me(), telegram_sandbox)
    assert me.id == 7000000001 and me.is_bot and me.username == "site_local_bot"


def test_send_with_keyboard_edit_and_answer_callback(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann", "Lee", "ann")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Accept", callback_data="mr:1:accept"),
                                      InlineKeyboardButton("Decline", callback_data="mr:1:decline")]])

    async def flow(bot):
        msg = await bot.send_message(USER, "<b>New</b> request &amp; more", parse_mode=ParseMode.HTML,
                                     reply_markup=keyboard)
        update = sb.user_presses(USER, msg.message_id, "mr:1:accept")
        assert await bot.answer_callback_query(update["callback_query"]["id"], text="Done")
        edited = await bot.edit_message_text("Accepted", chat_id=USER, message_id=msg.message_id)
        return msg, edited

    msg, edited = run(flow, sb)
    assert msg.text == "New request & more"
    assert msg.entities[0].type == "bold" and msg.entities[0].length == 3
    assert msg.reply_markup.inline_keyboard[0][0].callback_data == "mr:1:accept"
    assert msg.chat.id == USER and msg.from_user.id == 7000000001
    assert edited.text == "Accepted" and edited.edit_date is not None
    # As in Telegram: an edit without reply_markup drops the keyboard.
    [stored] = sb.messages(USER)
    assert stored["text"] == "Accepted" and "reply_markup" not in stored
    methods = [r.method for r in sb.record()]
    assert methods == ["sendMessage", "answerCallbackQuery", "editMessageText"]
    assert sb.record()[0].message_id == msg.message_id and sb.record()[0].outcome == "ok"


def test_errors_map_to_ptb_exceptions(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(1, "Started")
    sb.add_user(2, "Never", started=False)
    sb.add_user(3, "Blocker")
    sb.add_user(4, "Gone")
    sb.block(3)
    sb.deactivate(4)

    async def expect(bot, exc_type, coro, text):
        with pytest.raises(exc_type) as info:
            await coro
        assert text.lower() in str(info.value).lower()

    async def flow(bot):
        await expect(bot, BadRequest, bot.send_message(999, "x"), "Chat not found")
        await expect(bot, BadRequest, bot.send_message(1, "  "), "Message text is empty")
        await expect(bot, Forbidden, bot.send_message(2, "x"), "Bot can't initiate conversation with a user")
        await expect(bot, Forbidden, bot.send_message(3, "x"), "Bot was blocked by the user")
        await expect(bot, Forbidden, bot.send_message(4, "x"), "User is deactivated")
        await expect(bot, BadRequest, bot.edit_message_text("y", chat_id=1, message_id=77), "Message to edit not found")
        m = await bot.send_message(1, "same")
        await expect(bot, BadRequest, bot.edit_message_text("same", chat_id=1, message_id=m.message_id),
                     "Message is not modified")
        await expect(bot, BadRequest, bot.send_message(1, "<x>", parse_mode="HTML"), "Can't parse entities")
        await expect(bot, BadRequest, bot.answer_callback_query("nope"), "Query is too old")

    run(flow, sb)
    descs = [r.description for r in sb.errors()]
    assert "Bad Request: chat not found" in descs
    assert "Forbidden: bot was blocked by the user" in descs


def test_unknown_token_and_method(telegram_sandbox):
    with pytest.raises(InvalidToken):
        run(lambda bot: bot.get_me(), telegram_sandbox, token="123:nope")
    r = httpx.post(f"{telegram_sandbox.api_base}123:nope/getMe")
    assert r.status_code == 401 and r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    r = httpx.post(f"{telegram_sandbox.api_base}{DEFAULT_BOT_TOKEN}/noSuchMethod")
    assert r.status_code == 404 and r.json()["description"] == "Not Found"


def test_form_and_query_params_are_accepted(telegram_sandbox):
    telegram_sandbox.add_user(USER, "Ann")
    base = f"{telegram_sandbox.api_base}{DEFAULT_BOT_TOKEN}"
    r = httpx.post(f"{base}/sendMessage", data={"chat_id": str(USER), "text": "form",
                   "reply_markup": '{"inline_keyboard":[[{"text":"a","callback_data":"b"}]]}'})
    assert r.json()["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "b"
    r = httpx.get(f"{base}/sendMessage", params={"chat_id": USER, "text": "query"})
    assert r.json()["ok"] and r.json()["result"]["message_id"] == 2


def test_rate_limits_global_private_group(telegram_sandbox):
    sb = telegram_sandbox
    clock = sb.use_manual_clock()
    for uid in range(1, 32):
        sb.add_user(uid, f"U{uid}")
    sb.add_group(-100, "Group")

    async def flow(bot):
        for uid in range(1, 31):
            await bot.send_message(uid, "hi")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(31, "one too many")
        assert retry_seconds(info.value) == 1
        clock.advance(1.0)
        await bot.send_message(31, "now fine")
        # Per private chat: 3 within any 3 s; the 4th is refused.
        clock.advance(1.0)
        for _ in range(2):
            await bot.send_message(31, "burst")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(31, "4th")
        # The window holds sends at t=1.0, 2.0, 2.0: the one at 1.0 leaves it at 4.0.
        assert retry_seconds(info.value) == 2
        clock.advance(1.5)
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(31, "still too soon")
        assert retry_seconds(info.value) == 1
        clock.advance(0.5)
        await bot.send_message(31, "after retry_after")
        # Group: 20 a minute.
        for i in range(20):
            clock.advance(0.1)
            await bot.send_message(-100, f"g{i}")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(-100, "21st")
        assert retry_seconds(info.value) == 59  # the first group send (1.9 s ago) leaves in 58.1 s

    run(flow, sb)
    refused = sb.refused()
    assert [r.chat_id for r in refused] == [31, 31, 31, -100]
    assert all(r.retry_after >= 1 for r in refused)
    # Refused calls were not delivered.
    texts = [m["text"] for m in sb.messages(31)]
    assert "one too many" not in texts and "4th" not in texts
    assert len(sb.messages(-100)) == 20


def test_global_limit_exact_under_concurrency(telegram_sandbox):
    sb = telegram_sandbox
    sb.use_manual_clock()
    for uid in range(1, 61):
        sb.add_user(uid, f"U{uid}")
    base = f"{sb.api_base}{DEFAULT_BOT_TOKEN}"

    def send(uid):
        with httpx.Client() as c:
            return c.post(f"{base}/sendMessage", json={"chat_id": uid, "text": "x"}).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(send, range(1, 61)))
    assert codes.count(200) == 30 and codes.count(429) == 30


def test_limits_configurable_and_per_bot(telegram_sandbox):
    sb = telegram_sandbox
    sb.use_manual_clock()
    sb.add_user(5, "Five")
    sb.add_user(5, "Five", bot_id=7000000002)
    sb.link(5).started = True
    sb.set_limits(Limits(private_per_window=1, private_window=1.0))

    async def flow(bot):
        await bot.send_message(5, "a")
        with pytest.raises(RetryAfter):
            await bot.send_message(5, "b")

    run(flow, sb)
    run(lambda bot: bot.send_message(5, "other bot has its own windows"), sb, token=FOREIGN_BOT_TOKEN)
    sb.set_limits(None)
    run(lambda bot: bot.send_message(5, "no limits"), sb)


def test_fault_injection(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    sb.fail_next("sendMessage", status=500)
    sb.fail_next("sendMessage", status=502)

    async def flow(bot):
        with pytest.raises(NetworkError):
            await bot.send_message(USER, "a")
        with pytest.raises(NetworkError):
            await bot.send_message(USER, "b")
        sb.delay_next("sendMessage", 0.5)
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "c", read_timeout=0.1)

    run(flow, sb)
    outcomes = [r.error_code for r in sb.record()]
    assert outcomes[:2] == [500, 502]
    assert [m["text"] for m in sb.messages(USER)] == []  # the faults were not delivered
    # The delayed call is carried out anyway once its delay is over (the client gave up, not
    # Telegram); wait for it, or it would land in the next test's chat.
    deadline = time.monotonic() + 5
    while [m["text"] for m in sb.messages(USER)] != ["c"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [m["text"] for m in sb.messages(USER)] == ["c"]


def test_webhook_info_commands_and_other_methods(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")

    async def flow(bot):
        with pytest.raises(BadRequest):
            await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="bad secret!")
        assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cr3t_-",
                                     max_connections=5, allowed_updates=["message", "callback_query"])
        info = await bot.get_webhook_info()
        assert info.url == "http://127.0.0.1:9/hook" and info.max_connections == 5
        assert info.allowed_updates == ("message", "callback_query")
        assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
        cmds = await bot.get_my_commands()
        assert [c.command for c in cmds] == ["start", "help"]
        assert await bot.send_chat_action(USER, "typing")
        m = await bot.send_message(USER, "bye")
        assert await bot.delete_message(USER, m.message_id)
        assert await bot.delete_webhook(drop_pending_updates=True)
        info = await bot.get_webhook_info()
        assert info.url == "" and info.pending_update_count == 0

    run(flow, sb)
    assert sb.messages(USER) == []
