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

