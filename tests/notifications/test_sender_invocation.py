"""Issue 15 items 1 and 7: a batch never outlives its invocation; a late wake gives its chat
slot back; a request that hangs does not hold the rest of its batch."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import OperationalError

from infra.local.sqs_poller import LocalContext, to_event
from project.notifications.models import Delivery
from project.notifications.outbox import send_telegram


def receive_all(lambda_sender, aws, expected: int) -> dict:
    messages = []
    while len(messages) < expected and (batch := aws.receive(wait=0)):
        messages.extend(batch)
    assert len(messages) == expected
    messages.sort(key=lambda m: json.loads(m["Body"])["delivery_id"])
    return to_event(messages, lambda_sender.arn, "eu-central-1")


def record_sends(aws) -> list[dict]:
    seen = []
    aws.client("sqs").meta.events.register("provide-client-params.sqs.SendMessage", lambda params, **_: seen.append(params))
    return seen


def test_a_batch_to_one_chat_sends_what_fits_in_the_hold_and_defers_the_rest_at_once(
    db, lambda_sender, sandbox, aws, settings, django_capture_on_commit_callbacks
):
    """One chat takes a message every 1.1 s. NOTIFICATIONS_MAX_HOLD bounds the batch, not
    each wait: with a hold of 2 s, six messages to one chat cannot all go in this invocation."""
    settings.NOTIFICATIONS_MAX_HOLD = 2
    sandbox.add_user(7801)
    with django_capture_on_commit_callbacks(execute=True):
        ids = [send_telegram(7801, "sendMessage", {"text": f"m{k}"}).pk for k in range(6)]
    sends = record_sends(aws)
    event = receive_all(lambda_sender, aws, 6)
    # Deferrals are not failed tries: nothing is reported, the receive counts stay as they are.
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    delivered = sandbox.messages(7801)
    assert len(delivered) <= 2  # (none, on a machine so busy that the hold ran out first)
    waiting = Delivery.objects.filter(pk__in=ids, status="queued")
    assert waiting.count() == 6 - len(delivered)
    assert {d.attempts for d in waiting} == {0} and all("rate limit" in d.last_error for d in waiting)
    # Each went back to the queue as a new message, delayed to its own slot: one chat
    # interval after the other.
    assert sorted(json.loads(p["MessageBody"])["delivery_id"] for p in sends) == sorted(d.pk for d in waiting)
    delays = sorted(p["DelaySeconds"] for p in sends)
    assert delays[0] >= 1 and all(b - a in (1, 2) for a, b in zip(delays, delays[1:])), delays


def test_the_functions_timeout_bounds_the_batch_whatever_it_holds(
    db, lambda_sender, sandbox, aws, settings, django_capture_on_commit_callbacks
):
    """80 messages to 80 chats at 10 a second take 8 s; Lambda's context says 5 s are left.
    Only what fits goes out; the rest goes back at once, each delayed to its slot."""
    settings.TELEGRAM_GLOBAL_RATE = 10.0
    chats = range(7900, 7980)
    for chat in chats:
        sandbox.add_user(chat)
    with django_capture_on_commit_callbacks(execute=True):
        ids = [send_telegram(chat, "sendMessage", {"text": f"to {chat}"}).pk for chat in chats]
    sends = record_sends(aws)
    event = receive_all(lambda_sender, aws, 80)
    from handlers.sender import handler

    assert handler(event, LocalContext(5.0)) == {"batchItemFailures": []}
    sent = len(sandbox.delivered())
    assert sent <= 40, sent  # never the whole batch: it would outlive the invocation
    assert Delivery.objects.filter(pk__in=ids, status="sent").count() == sent
    assert Delivery.objects.filter(pk__in=ids, status="queued", attempts=0).count() == 80 - sent
    delays = [p["DelaySeconds"] for p in sends]
    assert len(delays) == 80 - sent and min(delays) >= 1 and max(delays) <= 10


def test_a_send_that_wakes_late_gives_its_chat_slot_back(
    db, lambda_sender, sandbox, aws, settings, django_capture_on_commit_callbacks
):
    """Slots half a second apart: B (chat 2) after A1 (chat 1), then A2 (chat 1 again, free
    1.1 s after A1). B's wake comes 0.5 s late (its thread is held): it gives its slot
    back, its chat's included, and books again at once, so it goes before A2, rather than
    waiting out a whole chat interval for a slot it never used (item 7)."""
    from project.notifications.sending import sender

    settings.TELEGRAM_GLOBAL_RATE = 2.0
    sandbox.add_user(7701)
    sandbox.add_user(7702)
    with django_capture_on_commit_callbacks(execute=True):
        send_telegram(7701, "sendMessage", {"text": "A1"})
        send_telegram(7702, "sendMessage", {"text": "B"})
        send_telegram(7701, "sendMessage", {"text": "A2"})
    event = receive_all(lambda_sender, aws, 3)
    loop = sender().loop

    def hold_the_loop_after_the_first_send():
        deadline = time.monotonic() + 10
        while not sandbox.delivered() and time.monotonic() < deadline:
            time.sleep(0.002)
        loop.call_soon_threadsafe(time.sleep, 1.0)  # a stalled machine: the loop's thread stops

    helper = threading.Thread(target=hold_the_loop_after_the_first_send)
    helper.start()
    assert lambda_sender.invoke(event) == {"batchItemFailures": []}
    helper.join()
    assert sender().stats["late"] >= 1
    assert [r.params["text"] for r in sandbox.delivered()] == ["A1", "B", "A2"]


@pytest.mark.django_db(transaction=True)
def test_a_hanging_request_does_not_hold_the_rest_of_its_batch(lambda_sender, sandbox, aws, settings):
    """The first of four calls hangs 3 s. The other three go and are recorded; then the
    invocation ends without waiting for it (its message comes back only after the claim's
    lease), and the container records the late answer when it comes."""
    settings.NOTIFICATIONS_STRAGGLER_AFTER = 0.5
    for chat in range(7601, 7605):
        sandbox.add_user(chat)
    ids = [send_telegram(chat, "sendMessage", {"text": f"to {chat}"}).pk for chat in range(7601, 7605)]
    event = receive_all(lambda_sender, aws, 4)
    visibility = record_visibility(aws)
    sandbox.delay_next("sendMessage", 3.0)
    result = lambda_sender.invoke(event)
    statuses = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "status"))
    answered = {r.chat_id for r in sandbox.delivered()}
    assert len(answered) == 3
    [hung] = [d.pk for d in Delivery.objects.filter(pk__in=ids) if d.chat_id not in answered]
    assert statuses == {i: "sending" if i == hung else "sent" for i in ids}
    hung_message = next(r["messageId"] for r in event["Records"] if json.loads(r["body"])["delivery_id"] == hung)
    assert result == {"batchItemFailures": [{"itemIdentifier": hung_message}]}
    assert visibility and visibility[0] >= 120  # the lease: only a dead container's claim is stale then
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if Delivery.objects.get(pk=hung).status == "sent":
                break
        except OperationalError:  # SQLite in memory: the recorder holds the table a moment
            pass
        time.sleep(0.1)
    assert Delivery.objects.get(pk=hung).status == "sent"
    assert len(sandbox.delivered()) == 4


def record_visibility(aws) -> list[int]:
    seen = []
    aws.client("sqs").meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: seen.append(params["VisibilityTimeout"])
    )
    return seen
