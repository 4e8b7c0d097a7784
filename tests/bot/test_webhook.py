"""The webhook handler: event shapes, the secret token, deliberate answers, dedup, failures and retries."""

from __future__ import annotations

import json
import logging

import pytest

from project.bot.models import Conversation, StoredUpdate, SupportMessage

from .conftest import call, message_update, next_update_id, webhook_event

pytestmark = pytest.mark.django_db


def status_of(answer: dict) -> int:
    assert set(answer) >= {"statusCode", "headers", "body"}
    json.loads(answer["body"])  # always a JSON body
    return answer["statusCode"]


@pytest.mark.parametrize("shape", ["v1", "v2", "url"])
def test_each_event_shape_is_accepted_and_stored(shape):
    update = message_update(4242, "hello")
    answer = call(update, shape=shape)
    assert status_of(answer) == 200
    stored = StoredUpdate.objects.get(update_id=update["update_id"])
    assert stored.status == StoredUpdate.Status.HANDLED
    assert stored.payload == update


def test_base64_body_and_header_case_do_not_matter():
    update = message_update(4242, "hello")
    answer = call(update, base64_body=True, header_name="x-TELEGRAM-bot-api-SECRET-token", shape="v1")
    assert status_of(answer) == 200
    assert StoredUpdate.objects.filter(update_id=update["update_id"], status="handled").exists()


def test_v1_header_only_in_multi_value_headers():
    update = message_update(4242, "hello")
    event = webhook_event(update, shape="v1")
    event["headers"] = {}
    assert status_of(call_event(event)) == 200


def call_event(event):
    from handlers.webhook import handler

    return handler(event, None)


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "local-webhook-secret-not-a-secreT", "ü" * 10])
def test_missing_or_wrong_secret_is_rejected_and_nothing_stored(secret, caplog):
    update = message_update(4242, "hello")
    with caplog.at_level(logging.WARNING, logger="handlers.webhook"):
        answer = call(update, secret=secret)
    assert status_of(answer) == 401
    assert not StoredUpdate.objects.exists()
    assert any("secret token" in r.getMessage() for r in caplog.records)


def test_previous_secret_is_accepted_during_a_rotation(monkeypatch):
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "the-new-secret-0123456789")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET_PREVIOUS", "the-old-secret-0123456789")
    from project.core import secrets

    secrets.reset_cache()
    assert status_of(call(message_update(4242, "a"), secret="the-old-secret-0123456789")) == 200
    assert status_of(call(message_update(4242, "b"), secret="the-new-secret-0123456789")) == 200
    assert status_of(call(message_update(4242, "c"), secret="local-webhook-secret-not-a-secret")) == 401
    assert StoredUpdate.objects.count() == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
def test_wrong_methods(method):
    answer = call(message_update(4242, "x"), method=method)
    assert status_of(answer) == 405
    assert answer["headers"]["Allow"] == "POST"
    assert not StoredUpdate.objects.exists()


@pytest.mark.parametrize(
    "body, status",
    [
        ("{not json", 400),
        ("", 400),
        ("[1, 2]", 400),
        ('"a string"', 400),
        ('{"message": {}}', 400),
        ('{"update_id": "12"}', 400),
        ('{"update_id": true}', 400),
        ('{"update_id": -1}', 400),
        ('{"update_id": 1.5}', 400),
        ('{"update_id": NaN}', 400),
        ("[" * 100_000, 400),
    ],
)
def test_bodies_that_are_not_updates_get_400(body, status, caplog):
    with caplog.at_level(logging.WARNING, logger="handlers.webhook"):
        assert status_of(call(body)) == status
    assert not StoredUpdate.objects.exists()
    assert caplog.records, "every rejection logs its reason"


def test_oversized_body_gets_413():
    body = json.dumps({"update_id": next_update_id(), "message": {"text": "x" * 1_100_000}})
    assert status_of(call(body)) == 413
    assert not StoredUpdate.objects.exists()


def test_bad_base64_gets_400():
    event = webhook_event("{}")
    event["body"], event["isBase64Encoded"] = "!!!not base64!!!", True
    assert status_of(call_event(event)) == 400


@pytest.mark.parametrize("event", [None, [], "x", {}, {"httpMethod": 5}, {"requestContext": "x"}])
def test_events_that_are_not_http_events(event):
    assert status_of(call_event(event)) == 400


@pytest.mark.parametrize("kind", ["edited_message", "channel_post", "poll", "inline_query", "some_future_kind"])
def test_update_kinds_we_do_not_use_are_acknowledged_and_stored_as_ignored(kind):
    update = {"update_id": next_update_id(), kind: {"whatever": 1}}
    assert status_of(call(update)) == 200
    stored = StoredUpdate.objects.get(update_id=update["update_id"])
    assert stored.status == StoredUpdate.Status.IGNORED
    assert stored.kind == kind
    assert stored.error


def test_unusable_message_is_acknowledged_and_ignored_with_its_reason():
    update = {"update_id": next_update_id(), "message": {"message_id": "x"}}
    assert status_of(call(update)) == 200
    stored = StoredUpdate.objects.get(update_id=update["update_id"])
    assert stored.status == StoredUpdate.Status.IGNORED
    assert "message_id" in stored.error


def test_one_update_delivered_three_times_out_of_order_is_handled_once(person):
    first = message_update(4242, "first", update_id=next_update_id())
    second = message_update(4242, "second", update_id=next_update_id())
    third = message_update(4242, "third", update_id=next_update_id())
    # Telegram resends in whatever order: later ids may arrive before earlier ones.
    for update in (third, first, second, first, third, first, second):
        assert status_of(call(update)) == 200
    assert StoredUpdate.objects.count() == 3
    texts = list(SupportMessage.objects.order_by("id").values_list("text", flat=True))
    assert sorted(texts) == ["first", "second", "third"]
    assert Conversation.objects.count() == 1


def test_repeat_answer_says_so(person):
    update = message_update(4242, "once")
    assert json.loads(call(update)["body"])["outcome"] == "handled"
    assert json.loads(call(update)["body"])["outcome"] == "repeat"


def test_failed_handling_is_stored_as_failed_answered_2xx_and_retried(person, monkeypatch, caplog):
    from django.core.management import call_command

    from project.bot import routing

    real_route = routing.route

    def broken(stored):
        raise RuntimeError("the database hiccupped")

    monkeypatch.setattr(routing, "route", broken)
    update = message_update(4242, "please help")
    answer = call(update)
    assert status_of(answer) == 200
    assert json.loads(answer["body"])["outcome"] == "failed"
    stored = StoredUpdate.objects.get(update_id=update["update_id"])
    assert stored.status == StoredUpdate.Status.FAILED
    assert "RuntimeError: the database hiccupped" in stored.error
    assert not SupportMessage.objects.exists()  # the handling rolled back as a whole

    # Telegram's resend is a repeat, not a second attempt: retrying is the operator's call.
    assert json.loads(call(update)["body"])["outcome"] == "repeat"

    monkeypatch.setattr(routing, "route", real_route)
    from io import StringIO

    out = StringIO()
    call_command("retry_updates", stdout=out)
    stored.refresh_from_db()
    assert stored.status == StoredUpdate.Status.HANDLED
    assert stored.attempts == 2
    assert SupportMessage.objects.get().text == "please help"
    assert f"{update['update_id']} message: handled" in out.getvalue()
    # Nothing left to retry.
    out = StringIO()
    call_command("retry_updates", stdout=out)
    assert "retried 0" in out.getvalue()


def test_database_unavailable_before_storing_is_a_5xx_not_an_exception(monkeypatch):
    from project.bot.models import StoredUpdate as Model

    def unavailable(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setattr(Model.objects, "create", unavailable)
    answer = call(message_update(4242, "x"))
    assert status_of(answer) == 500  # our side: Telegram keeps the update and resends it


def test_the_webhook_never_reads_the_bot_token(monkeypatch, person):
    from project.core import secrets

    def forbidden():
        raise AssertionError("the webhook read the bot token")

    monkeypatch.setattr(secrets, "bot_token", forbidden)
    assert status_of(call(message_update(4242, "/help"))) == 200
    assert status_of(call(message_update(4242, "hello"))) == 200
    assert StoredUpdate.objects.filter(status="handled").count() == 2


# --- issue 12: ids beyond 64 bits, the body limit in bytes, my_chat_member order, the path ----

from .conftest import callback_update, chat_member_update  # noqa: E402

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
