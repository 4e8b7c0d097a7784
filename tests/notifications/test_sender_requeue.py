"""Issue 15 items 3, 5 and 8, issue 10 fix 5: the sender talks to SQS only after the outcome
is committed; a re-queue SQS refuses fails visibly and the message comes back; 429s never
run out a message's receives silently; a 403's email fallback is enqueued once."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError
from django.db import OperationalError, connections

from infra.local.sqs_poller import to_event
from project.notifications import notify
from project.notifications.models import Delivery
from project.notifications.outbox import send_telegram


def committed_status(delivery_id: int) -> str:
    """The delivery's status as another connection sees it: what is committed, nothing else."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT status FROM notifications_delivery WHERE id = %s", [delivery_id])
            return cursor.fetchone()[0]
    except OperationalError as exc:  # SQLite: a write transaction still holds the table
        return f"locked ({exc})"
    finally:
        other.close()


def deny(operation: str, aws) -> list:
    """The sender's role may not call `operation` (as deployed before issue 10 fix 5)."""
    calls = []

    def refuse(params, **_):
        calls.append(params)
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform: sqs:{operation}"}},
                          operation)

    aws.client("sqs").meta.events.register(f"provide-client-params.sqs.{operation}", refuse)
    return calls


def telegram_only(user):
    from project.notifications.flows import preferences

    preferences.save(user, enabled={("match_request_received", "telegram")}, everything_off=False)


def messages(aws) -> list[dict]:
    found = []
    while batch := aws.receive(wait=0):
        found.extend(batch)
    return sorted(found, key=lambda m: json.loads(m["Body"])["delivery_id"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer, operation", [
    ((502, None), "ChangeMessageVisibility"),   # a retry: the message comes back after a backoff
    ((429, 12), "SendMessage"),                  # a 429 beyond the hold: a new, delayed message
])
def test_sqs_hears_of_an_outcome_only_after_it_is_committed(answer, operation, lambda_sender, sandbox, aws):
    status, retry_after = answer
    sandbox.add_user(8301)
    delivery = send_telegram(8301, "sendMessage", {"text": "x"})
    event = to_event(messages(aws), lambda_sender.arn, "eu-central-1")
    seen = []
    aws.client("sqs").meta.events.register(
        f"provide-client-params.sqs.{operation}", lambda params, **_: seen.append(committed_status(delivery.pk))
    )
    sandbox.fail_next("sendMessage", status, retry_after=retry_after)
    lambda_sender.invoke(event)
    assert seen == ["queued"]  # recorded and committed before SQS was told anything


def test_a_requeue_that_sqs_refuses_is_logged_as_an_error_and_the_message_comes_back(
    db, lambda_sender, sandbox, aws, settings, caplog, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_MAX_HOLD = 1.0  # the second message to the chat waits: a deferral
    sandbox.add_user(8401)
    with django_capture_on_commit_callbacks(execute=True):
        first = send_telegram(8401, "sendMessage", {"text": "one"})
        second = send_telegram(8401, "sendMessage", {"text": "two"})
    event = to_event(messages(aws), lambda_sender.arn, "eu-central-1")
    refused = deny("SendMessage", aws)
    visibility = []
    aws.client("sqs").meta.events.register("provide-client-params.sqs.ChangeMessageVisibility",
                                           lambda params, **_: visibility.append(params["VisibilityTimeout"]))
    with caplog.at_level(logging.WARNING):
        result = lambda_sender.invoke(event)
    assert len(refused) == 1
    # Not silent: an error that names the delivery and what failed...
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(str(second.pk) in m and "SendMessage" in m for m in errors), errors
    # ...and the message comes back by itself (reported, visible again after the wait).
    second_message = next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["delivery_id"] == second.pk)
    assert result == {"batchItemFailures": [{"itemIdentifier": second_message}]}
    assert len(visibility) == 1 and visibility[0] >= 1
    second.refresh_from_db(), first.refresh_from_db()
    assert first.status == "sent" and second.status == "queued" and second.attempts == 0


@pytest.mark.parametrize("why", ["deferral", "429"])
def test_on_its_last_receive_a_wait_that_cannot_be_requeued_gives_up_explicitly_and_emails(
    why, make_person, lambda_sender, sandbox, aws, settings, django_capture_on_commit_callbacks
):
    """The queue's maxReceiveCount is 5 here. A message on its 5th receive that must wait
    (our own limit, or a 429) and cannot be put back on the queue would go to the
    dead-letter queue while its delivery still says queued. Instead the delivery is
    settled as failed with the reason, and the email fallback goes (item 5)."""
    settings.NOTIFICATIONS_MAX_HOLD = 1.0
    person = make_person(telegram_id=8501, sandbox=sandbox)
    telegram_only(person)
    with django_capture_on_commit_callbacks(execute=True):
        if why == "deferral":
            notify(person, "match_request_received", text="First")
        notification = notify(person, "match_request_received", text="Waits")
    delivery = notification.deliveries.get(channel="telegram")
    event = to_event(messages(aws), lambda_sender.arn, "eu-central-1")
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "5"
    if why == "429":
        sandbox.fail_next("sendMessage", 429, retry_after=12)
    deny("SendMessage", aws)
    batches = []
    aws.client("sqs").meta.events.register("provide-client-params.sqs.SendMessageBatch",
                                           lambda params, **_: batches.append(params["Entries"]))
    with django_capture_on_commit_callbacks(execute=True):
        result = lambda_sender.invoke(event)
    message = next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["delivery_id"] == delivery.pk)
    assert {"itemIdentifier": message} in result["batchItemFailures"]  # on to the dead-letter queue
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "gave up" in delivery.last_error and "dead-letter" in delivery.last_error
    email = notification.deliveries.get(channel="email")
    assert email.status == "queued"
    assert [json.loads(e["MessageBody"])["delivery_id"] for b in batches for e in b] == [email.pk]


def test_a_429_on_the_last_receive_is_not_a_counted_try(
    db, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks
):
    """Waits for 429s do not count as receives: on the message's last receive, a 429 puts
    the delivery back as a new message (receive count 1), and this one is not reported."""
    sandbox.add_user(8601)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_telegram(8601, "sendMessage", {"text": "x"})
    event = to_event(messages(aws), lambda_sender.arn, "eu-central-1")
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"
    sandbox.fail_next("sendMessage", 429, retry_after=12)
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.last_error.startswith("429")


@pytest.mark.django_db(transaction=True)
def test_a_403s_email_fallback_is_enqueued_once(make_person, lambda_sender, sandbox, aws):
    """The Telegram message comes three times (twice in one batch, once later: SQS delivers
    at least once); one 403, one email delivery, one message for it, one email."""
    from project.notifications.outbox import enqueue_now

    person = make_person(telegram_id=8701, sandbox=sandbox)
    telegram_only(person)
    sandbox.block(8701)
    notification = notify(person, "match_request_received", text="Hello")
    telegram = notification.deliveries.get(channel="telegram")
    enqueue_now([telegram.pk, telegram.pk])
    copies = messages(aws)
    assert len(copies) == 3
    enqueued = []
    sqs = aws.client("sqs")
    for operation in ("SendMessage", "SendMessageBatch"):
        sqs.meta.events.register(
            f"provide-client-params.sqs.{operation}",
            lambda params, **_: enqueued.extend(json.loads(e["MessageBody"])["delivery_id"]
                                                for e in params.get("Entries", [params])))
    assert lambda_sender.invoke(to_event(copies[:2], lambda_sender.arn, "eu-central-1")) == {"batchItemFailures": []}
    assert lambda_sender.invoke(to_event(copies[2:], lambda_sender.arn, "eu-central-1")) == {"batchItemFailures": []}
    email = notification.deliveries.get(channel="email")
    assert enqueued == [email.pk]
    assert [r.error_code for r in sandbox.record() if r.method == "sendMessage"] == [403]
