"""
The webhook against input Telegram never sends and deliveries out of order (issue 12 items
9-12): ids beyond 64 bits, the body limit in bytes, my_chat_member order, only its own path,
and one transaction (what retry_updates can still find).
"""

from __future__ import annotations

import json
import logging

import pytest

from project.bot.models import StoredUpdate

from .conftest import call, callback_update, chat_member_update, message_update, webhook_event

pytestmark = pytest.mark.django_db


def status_of(answer: dict) -> int:
    assert set(answer) >= {"statusCode", "headers", "body"}
    json.loads(answer["body"])
    return answer["statusCode"]


def call_event(event):
    from handlers.webhook import handler

    return handler(event, None)


# --- issue 12: ids beyond 64 bits, the body limit in bytes, my_chat_member order, the path ----

BEYOND = [2**63, 2**64, -(2**63) - 1, 10**30]


def _stored(update) -> StoredUpdate:
    return StoredUpdate.objects.get(update_id=update["update_id"])


@pytest.mark.parametrize("big", BEYOND)
@pytest.mark.parametrize("where", ["from.id", "chat.id", "message_id", "reply_to.chat.id"])
def test_a_message_with_an_id_beyond_64_bits_is_stored_as_ignored_with_the_reason(person, big, where, caplog):
    update = message_update(4242, "hello")
    message = update["message"]
    if where == "from.id":
        message["from"]["id"] = big
    elif where == "chat.id":
        message["chat"]["id"] = big
    elif where == "message_id":
        message["message_id"] = big
    else:
        message["reply_to_message"] = {"message_id": 1, "chat": {"id": big, "type": "private"}, "text": "x"}
    with caplog.at_level(logging.INFO):
        answer = call(update)
    assert status_of(answer) == 200
    stored = _stored(update)
    if where == "reply_to.chat.id":
        # Only the quoted message is unusable: the message itself is handled without it.
        assert stored.status == StoredUpdate.Status.HANDLED
        return
    assert stored.status == StoredUpdate.Status.IGNORED, stored.error
    assert "beyond 64 bits" in stored.error
    assert not any(r.exc_info for r in caplog.records), "no traceback for malformed input"


@pytest.mark.parametrize("big", BEYOND[:2])
def test_a_callback_or_chat_member_change_with_an_id_beyond_64_bits_is_ignored(person, big):
    press = callback_update(4242, "mr:1:accept")
    press["callback_query"]["from"]["id"] = big
    change = chat_member_update(4242, "kicked", "member")
    change["my_chat_member"]["chat"]["id"] = big
    for update in (press, change):
        assert status_of(call(update)) == 200
        stored = _stored(update)
        assert stored.status == StoredUpdate.Status.IGNORED and "beyond 64 bits" in stored.error


def test_the_largest_64_bit_ids_are_fine(person):
    update = message_update(4242, "hello")
    update["message"]["message_id"] = 2**63 - 1
    assert status_of(call(update)) == 200
    assert _stored(update).status == StoredUpdate.Status.HANDLED


@pytest.mark.parametrize("base64_body", [False, True])
def test_the_body_limit_counts_bytes_for_plain_and_base64_bodies(base64_body):
    # 300,000 emoji: 300,000 characters of text, 1.2 MB of UTF-8.
    body = json.dumps(message_update(4242, "\U0001F600" * 300_000), ensure_ascii=False)
    assert len(body) < 1_000_000 < len(body.encode("utf-8"))
    answer = call(body, base64_body=base64_body)
    assert status_of(answer) == 413
    assert not StoredUpdate.objects.exists()


def test_a_body_just_under_the_limit_in_bytes_is_taken(person):
    update = message_update(4242, "")
    update["message"]["text"] = "\u00e9" * ((1_000_000 - len(json.dumps(update)) - 10) // 2)
    body = json.dumps(update, ensure_ascii=False)
    assert len(body.encode("utf-8")) <= 1_000_000
    assert status_of(call(body)) == 200


def _reachable():
    from project.telegram_accounts.models import TelegramAccount

    return TelegramAccount.objects.get(telegram_id=4242).reachable


def _member_change(status: str, old: str, *, date: int) -> dict:
    update = chat_member_update(4242, status, old)
    update["my_chat_member"]["date"] = date
    return update


def test_a_late_older_kicked_does_not_undo_a_newer_member(person):
    kicked = _member_change("kicked", "member", date=1_700_000_100)
    member = _member_change("member", "kicked", date=1_700_000_200)
    assert status_of(call(member)) == 200  # the newer one arrives first
    assert _reachable()

    assert status_of(call(kicked)) == 200  # Telegram's late retry of the older one
    assert _reachable()
    stored = _stored(kicked)
    assert stored.status == StoredUpdate.Status.IGNORED and "older" in stored.error


def test_a_newer_change_is_applied_after_an_older_one(person):
    assert status_of(call(_member_change("member", "kicked", date=1_700_000_100))) == 200
    assert status_of(call(_member_change("kicked", "member", date=1_700_000_200))) == 200
    assert not _reachable()
    assert status_of(call(_member_change("member", "kicked", date=1_700_000_300))) == 200
    assert _reachable()


def test_changes_with_the_same_date_apply_in_update_id_order(person):
    from project.bot import updates
    from project.bot.flows import chat_member

    first = _member_change("kicked", "member", date=1_700_000_100)
    second = _member_change("member", "kicked", date=1_700_000_100)
    assert second["update_id"] > first["update_id"]

    def apply(update):
        change = updates.parse_chat_member_change(update["my_chat_member"], update_id=update["update_id"])
        return chat_member.changed(change)

    assert apply(second) == (True, "marked reachable")
    applied, reason = apply(first)  # same second, lower update_id: older
    assert not applied and "older" in reason
    assert _reachable()


@pytest.mark.parametrize("shape", ["v1", "v2", "url"])
@pytest.mark.parametrize("path", ["/", "/telegram/webhook/", "/telegram/webhook/x", "/admin/", "/telegram/webhookx", "/TELEGRAM/webhook"])
def test_only_the_webhooks_own_path_is_served(shape, path, monkeypatch):
    event = webhook_event(message_update(4242, "hi"), shape=shape)
    if shape == "v1":
        event["path"] = path
    else:
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path

    # Nothing is read before the answer: not the secret, not the body.
    from project.core import secrets

    def must_not_be_read(*args, **kwargs):
        raise AssertionError("the secret was read for another path")

    monkeypatch.setattr(secrets, "webhook_secrets", must_not_be_read)
    event["body"] = "not even json"
    answer = call_event(event)
    assert status_of(answer) == 404
    assert not StoredUpdate.objects.exists()


def test_the_path_comes_from_the_webhook_url(settings):
    settings.TELEGRAM_WEBHOOK_URL = "https://tg.example.com/hook/abc"
    assert status_of(call(message_update(4242, "hi"))) == 404
    event = webhook_event(message_update(4242, "hi"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/hook/abc"
    assert status_of(call_event(event)) == 200


def test_a_crash_before_the_commit_stores_nothing_so_telegram_resends_and_retry_has_nothing_to_find(person, monkeypatch):
    """One transaction: the insert does not outlive a crash in the handling (docs/WEBHOOK.md)."""
    from project.bot.flows import receive_update as receiving
    from project.bot.flows.retry import retry_updates

    def crash(stored):
        raise ConnectionError("the database went away mid-handling")  # escapes the savepoint's handler too

    monkeypatch.setattr(receiving, "_handle", crash)
    update = message_update(4242, "lost?")
    assert status_of(call(update)) == 500  # Telegram will deliver it again
    assert not StoredUpdate.objects.exists()
    assert retry_updates(stale_minutes=0) == []

    monkeypatch.undo()
    assert json.loads(call(update)["body"])["outcome"] == "handled"  # the resend


def test_the_docs_say_one_transaction_as_the_code_does_and_what_retry_can_find():
    from pathlib import Path

    import project.bot.flows.retry as retry

    docs = " ".join((Path(__file__).resolve().parents[2] / "docs" / "WEBHOOK.md").read_text().split())
    assert "Storing and handling are one transaction" in docs
    assert "two transactions" not in docs
    assert "never finds an update lost to a crash" in docs
    assert "What it cannot find" in retry.__doc__
