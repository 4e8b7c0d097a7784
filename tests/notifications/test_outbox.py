"""The outbox: after commit, in batches of ten, nothing rolled back, nothing committed lost."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from project.notifications import notify
from project.notifications.flows import sweep as sweep_flow
from project.notifications.models import Delivery, Notification
from project.notifications.outbox import send_telegram


def count_calls(aws, operation: str) -> list:
    calls = []
    aws.client("sqs").meta.events.register(f"provide-client-params.sqs.{operation}", lambda params, **_: calls.append(params))
    return calls


def all_messages(aws) -> list[dict]:
    found = []
    while batch := aws.receive(wait=0):
        found.extend(batch)
    return found


@pytest.mark.django_db(transaction=True)
def test_deliveries_go_to_sqs_after_commit_in_batches_of_ten(make_person, aws, sandbox):
    people = [make_person(telegram_id=7000 + i, sandbox=sandbox) for i in range(12)]
    batches = count_calls(aws, "SendMessageBatch")
    with transaction.atomic():
        for person in people:
            notify(person, "match_request_received", text="Hi")  # Telegram + email each: 24
        assert batches == []  # nothing before the commit
    assert [len(call["Entries"]) for call in batches] == [10, 10, 4]
    bodies = [json.loads(m["Body"]) for m in all_messages(aws)]
    ids = set(Delivery.objects.filter(status="queued").values_list("id", flat=True))
    assert len(bodies) == 24 and {b["delivery_id"] for b in bodies} == ids
    assert {b["v"] for b in bodies} == {1} and all(set(b) == {"v", "delivery_id"} for b in bodies)
    assert not Delivery.objects.filter(enqueued_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_event_sends_nothing(make_person, aws, sandbox):
    person = make_person(telegram_id=7101, sandbox=sandbox)
    kept = None
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            notify(person, "match_request_received", text="Never")
            send_telegram(7101, "sendMessage", {"text": "Never either"})
            raise RuntimeError("the event failed")
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint rolled back inside a committed transaction
                notify(person, "meetup_changed", text="Also never")
                raise RuntimeError
        except RuntimeError:
            pass
        kept = send_telegram(7101, "sendMessage", {"text": "This one"})
    assert not Notification.objects.exists()
    bodies = [json.loads(m["Body"]) for m in all_messages(aws)]
    assert bodies == [{"v": 1, "delivery_id": kept.pk}]


@pytest.mark.django_db(transaction=True)
def test_the_sweep_recovers_a_delivery_committed_but_never_enqueued(make_person, aws, sandbox, settings):
    from infra.local.sqs_poller import poll_once, queue_arn
    from handlers.sender import handler
    from project.notifications.sending import reset_sender

    person = make_person(telegram_id=7201, sandbox=sandbox)
    queue_url, settings.OUTBOX_QUEUE_URL = settings.OUTBOX_QUEUE_URL, ""  # the process dies after commit
    notification = notify(person, "meetup_changed", text="Moved to 7 pm")
    settings.OUTBOX_QUEUE_URL = queue_url
    delivery = notification.deliveries.get()
    assert delivery.enqueued_at is None and all_messages(aws) == []
    # Too fresh to be presumed lost: the sweep leaves it alone.
    assert sweep_flow.sweep().found == 0
    Delivery.objects.filter(pk=delivery.pk).update(due_at=timezone.now() - timedelta(minutes=10))
    call_command("sweep_outbox")
    reset_sender()
    sqs = aws.client("sqs")
    assert poll_once(sqs, aws.queue_url, queue_arn(sqs, aws.queue_url), handler, wait=0) == (1, 0)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert [m["text"].endswith("Moved to 7 pm") for m in sandbox.messages(7201)] == [True]
    assert sweep_flow.sweep(older_than=0).found == 0  # settled: nothing more to do
    reset_sender()


@pytest.mark.django_db(transaction=True)
def test_the_sweep_lambda_reenqueues_a_claim_whose_sender_died(make_person, aws, sandbox, settings):
    from handlers.sweep import handler as sweep_handler

    settings.NOTIFICATIONS_CLAIM_LEASE = 60
    person = make_person(telegram_id=7301, sandbox=sandbox)
    notification = notify(person, "meetup_changed", text="x")
    all_messages(aws)  # the original message was received by a sender that then died
    Delivery.objects.filter(notification=notification).update(
        status="sending", claimed_at=timezone.now() - timedelta(minutes=5), claim_token="dead"
    )
    assert sweep_handler({"older_than": 600}, None) == {"found": 1, "enqueued": 1}
    [message] = all_messages(aws)
    assert json.loads(message["Body"])["delivery_id"] == notification.deliveries.get().pk
