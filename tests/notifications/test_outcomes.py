"""Each outcome class of the sender, against the sandbox's real failure answers."""

from __future__ import annotations

import json

import pytest

from project.notifications import notify
from project.notifications.models import Delivery, RateLimitSlot
from project.notifications.outbox import send_telegram


@pytest.fixture
def person(make_person, sandbox):
    return make_person(telegram_id=6001, sandbox=sandbox)


def telegram_only(user):
    from project.notifications.flows import preferences

    preferences.save(user, enabled={("match_request_received", "telegram")}, everything_off=False)


def queue_one(person, capture, **kw):
    telegram_only(person)
    with capture(execute=True):
        notification = notify(person, "match_request_received", text="Hello there", **kw)
    return notification.deliveries.get(channel="telegram")


def test_sent_records_the_provider_message_id(person, lambda_sender, sandbox, django_capture_on_commit_callbacks):
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    event = lambda_sender.receive_event()
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 1
    assert delivery.provider_message_id == str(sandbox.messages(6001)[0]["message_id"])
    assert delivery.get_status_display() == "Sent"


def test_429_beyond_the_hold_goes_back_as_a_new_message_delayed_by_exactly_retry_after(
    person, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks
):
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    sandbox.fail_next("sendMessage", 429, retry_after=12, description="Too Many Requests: retry after 12")
    seen = []
    sqs = aws.client("sqs")
    # Record what the sender sends (moto keeps no history of delays).
    sqs.meta.events.register("provide-client-params.sqs.SendMessage", lambda params, **_: seen.append(params))
    from project.core import aws as core_aws

    assert core_aws.client("sqs") is sqs
    event = lambda_sender.receive_event()
    # A 429 is not a failed try: the message is not reported (its receive count does not
    # grow towards the dead-letter queue), a new one waits out retry_after (item 5).
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    assert [(json.loads(p["MessageBody"]), p["DelaySeconds"]) for p in seen] == [({"v": 1, "delivery_id": delivery.pk}, 12)]
    delivery.refresh_from_db()
    assert delivery.status == "queued" and "429" in delivery.last_error and delivery.attempts == 1
    # Everyone waits: the chat and the bot as a whole are paused for retry_after.
    slots = {row.key: row for row in RateLimitSlot.objects.all()}
    refused_at = sandbox.refused()[0].time
    assert slots["global"].paused_until - refused_at >= 11.9
    assert slots["chat:6001"].next_at >= slots["global"].paused_until - 0.001
    assert aws.receive(wait=0) == []  # not visible again yet


def test_429_within_the_hold_is_waited_out_in_the_same_invocation(
    person, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks
):
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    sandbox.fail_next("sendMessage", 429, retry_after=1, description="Too Many Requests: retry after 1")
    event = lambda_sender.receive_event()
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    delivery.refresh_from_db()
    assert delivery.status == "sent" and delivery.attempts == 2
    [refused] = sandbox.refused()
    [sent] = sandbox.delivered(6001)
    assert sent.time - refused.time >= 1.0  # waited exactly what the 429 said, at least


def test_403_blocked_marks_unreachable_falls_back_to_email_and_shows_the_notice(
    person, lambda_sender, sandbox, client, mailoutbox, django_capture_on_commit_callbacks
):
    sandbox.block(6001)
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        result = lambda_sender.invoke(lambda_sender.receive_event())
    assert result == {"batchItemFailures": []}  # settled, not retried
    delivery.refresh_from_db()
    assert delivery.status == "unreachable" and "blocked" in delivery.last_error
    person.telegram_account.refresh_from_db()
    assert person.telegram_account.reachable is False
    # The notification goes by email instead.
    email = delivery.notification.deliveries.get(channel="email")
    assert email.status == "queued"
    lambda_sender.drain()
    email.refresh_from_db()
    assert email.status == "sent" and email.address == person.email
    assert len(mailoutbox) == 1 and "Hello there" in mailoutbox[0].body
    # Every page shows a notice with a way to reconnect.
    client.force_login(person)
    page = client.get("/notifications/").content.decode()
    assert "cannot reach you" in page and "/notifications/reconnect-telegram/" in page
    reconnect = client.get("/notifications/reconnect-telegram/").content.decode()
    assert "?start=" in reconnect and "/accounts/" in reconnect  # the bot's deep link, with a token
    # While unreachable, new notifications skip Telegram and go by email.
    with django_capture_on_commit_callbacks(execute=True):
        later = notify(person, "match_request_received", text="Another one")
    statuses = {d.channel: d.status for d in later.deliveries.all()}
    assert statuses == {"telegram": "unreachable", "email": "queued"}
    # /start or unblocking (handled by the webhook) marks them reachable: the notice goes.
    sandbox.unblock(6001)
    person.telegram_account.mark_reachable()
    assert "cannot reach you" not in client.get("/notifications/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        again = notify(person, "match_request_received", text="Welcome back")
    lambda_sender.drain()
    assert again.deliveries.get(channel="telegram").status == "sent"
    assert sandbox.messages(6001)[-1]["text"].endswith("Welcome back")  # after the notification's title


def test_403_for_bot_chatter_marks_unreachable_without_email(person, lambda_sender, sandbox, mailoutbox, django_capture_on_commit_callbacks):
    sandbox.deactivate(6001)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_telegram(6001, "sendMessage", {"text": "Thanks, we got your message."}, user=person)
    lambda_sender.drain()
    delivery.refresh_from_db()
    assert delivery.status == "unreachable" and "deactivated" in delivery.last_error
    assert not Delivery.objects.filter(channel="email").exists() and mailoutbox == []


def test_400_is_a_permanent_failure_kept_with_its_reason(make_person, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks):
    stranger = make_person(telegram_id=6999)  # a chat the bot never had: "chat not found"
    delivery = queue_one(stranger, django_capture_on_commit_callbacks)
    event = lambda_sender.receive_event()
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}  # deleted, never retried
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "chat not found" in delivery.last_error.lower()
    assert delivery.get_status_display() == "Failed"
    assert aws.receive(wait=0) == []


@pytest.mark.parametrize("status", [500, 502])
def test_5xx_backs_off_then_gives_up_on_the_last_receive(status, person, lambda_sender, sandbox, aws, settings, django_capture_on_commit_callbacks):
    settings.NOTIFICATIONS_RETRY_BASE = 10
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    sandbox.fail_next("sendMessage", status)
    seen = []
    aws.client("sqs").meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: seen.append(params["VisibilityTimeout"])
    )
    event = lambda_sender.receive_event()
    failed = lambda_sender.invoke(event)["batchItemFailures"]
    assert failed == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.attempts == 1 and "NetworkError" in delivery.last_error
    # The same message on its 3rd receive backs off longer; on the 5th (maxReceiveCount) it
    # is settled as failed and reported, so the redrive policy takes it to the DLQ.
    sandbox.fail_next("sendMessage", status, count=2)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    lambda_sender.invoke(event)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"
    assert lambda_sender.invoke(event)["batchItemFailures"] == failed
    assert seen == [10, 40]
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "dead-letter" in delivery.last_error


def test_a_timeout_is_retried(person, lambda_sender, sandbox, settings, django_capture_on_commit_callbacks):
    settings.NOTIFICATIONS_SEND_TIMEOUT = 0.3
    from project.notifications.sending import reset_sender

    reset_sender()
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    sandbox.delay_next("sendMessage", 1.0)
    event = lambda_sender.receive_event()
    assert len(lambda_sender.invoke(event)["batchItemFailures"]) == 1
    delivery.refresh_from_db()
    assert delivery.status == "queued" and "TimedOut" in delivery.last_error
    # The sandbox, like Telegram, still carries out the call it answered too late: this is
    # the documented duplicate window (the retry will send it a second time).
    import time

    deadline = time.monotonic() + 5
    while not sandbox.messages(6001) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["text"].endswith("Hello there") for m in sandbox.messages(6001)] == [True]


def test_bot_chatter_methods_go_out(person, lambda_sender, sandbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = send_telegram(6001, "sendMessage", {"text": "Choose", "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}})
    lambda_sender.drain()
    first.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        edit = send_telegram(6001, "editMessageText", {"message_id": int(first.provider_message_id), "text": "Chosen: A"})
        same = send_telegram(6001, "editMessageReplyMarkup", {"message_id": int(first.provider_message_id), "reply_markup": {"inline_keyboard": []}})
    lambda_sender.drain()
    edit.refresh_from_db()
    same.refresh_from_db()
    assert edit.status == "sent" and same.status == "sent", (edit.status, edit.last_error, edit.attempts, same.status, same.last_error, lambda_sender.visible_count())
    messages = sandbox.messages(6001)
    assert len(messages) == 1, [m.get("text") for m in messages]
    [message] = messages
    assert message["text"] == "Chosen: A" and "reply_markup" not in message


def test_unknown_body_version_is_left_for_the_dead_letter_queue(db, lambda_sender, aws, sandbox):
    aws.client("sqs").send_message(QueueUrl=aws.queue_url, MessageBody='{"v": 2, "delivery_id": 1}')
    event = lambda_sender.receive_event()
    assert lambda_sender.invoke(event)["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def test_a_wait_for_the_chats_rate_limit_is_not_a_failed_try(
    person, lambda_sender, sandbox, aws, settings, django_capture_on_commit_callbacks
):
    """Deferred by our own limiter, a delivery moves to a new delayed message: the old one is
    not reported (so its receive count, which leads to the dead-letter queue, does not grow)."""
    settings.NOTIFICATIONS_MAX_HOLD = 1.0  # less than the chat's 1.1 s: defer the second
    telegram_only(person)
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(person, "match_request_received", text="One").deliveries.get(channel="telegram")
        second = notify(person, "match_request_received", text="Two").deliveries.get(channel="telegram")
    event = lambda_sender.receive_event()
    assert len(event["Records"]) == 2
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    first.refresh_from_db(), second.refresh_from_db()
    waiting = [d for d in (first, second) if d.status == "queued"]
    assert second in waiting and {d.status for d in (first, second)} <= {"sent", "queued"}
    assert all(d.attempts == 0 and "rate limit" in d.last_error for d in waiting)
    import time

    time.sleep(2.1)  # SQS delays in whole seconds; the chat allows one message per ~1.1 s
    again = []
    deadline = time.monotonic() + 5
    while len(again) < len(waiting) and time.monotonic() < deadline:
        again += aws.receive(wait=1)
    assert sorted(json.loads(r["Body"])["delivery_id"] for r in again) == sorted(d.pk for d in waiting)
    assert {r["Attributes"]["ApproximateReceiveCount"] for r in again} == {"1"}


def test_a_group_that_migrated_is_a_permanent_failure(person, lambda_sender, sandbox, django_capture_on_commit_callbacks):
    delivery = queue_one(person, django_capture_on_commit_callbacks)
    sandbox.fail_next(
        "sendMessage", 400, description="Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1001234567890,
    )
    assert lambda_sender.invoke(lambda_sender.receive_event()) == {"batchItemFailures": []}  # not retried
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "migrated to -1001234567890" in delivery.last_error
