"""Issue 15 item 4: each outcome is committed as soon as Telegram's answer arrives, before any
other work, so the window for a duplicate (a crash between the answer and the record) is the
commit itself. The benchmark (bench.sender_chaos) measures it; docs/OUTBOX.md has the figures."""

from __future__ import annotations

import json
import time

import pytest

from project.notifications.models import Delivery
from project.notifications.outbox import send_telegram
from tests.notifications.test_sender_requeue import committed_status, messages


@pytest.mark.django_db(transaction=True)
def test_an_answer_is_recorded_while_the_sender_still_talks_to_sqs_about_another(lambda_sender, sandbox, aws, settings):
    """A's call fails (502): its message must be returned to the queue, and that SQS call is
    slow. B's answer arrives meanwhile; B's outcome must be committed without waiting for
    A's SQS call to end (the old sender made it inside A's transaction, in the one thread
    that also records every other outcome)."""
    from infra.local.sqs_poller import to_event

    settings.TELEGRAM_GLOBAL_RATE = 5.0  # B's slot is 0.2 s after A's
    sandbox.add_user(8801)
    sandbox.add_user(8802)
    a = send_telegram(8801, "sendMessage", {"text": "A"})
    b = send_telegram(8802, "sendMessage", {"text": "B"})
    event = to_event(messages(aws), lambda_sender.arn, "eu-central-1")
    assert [json.loads(r["body"])["delivery_id"] for r in event["Records"]] == [a.pk, b.pk]
    seen_during_the_call = []

    def slow_sqs(params, **_):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = committed_status(b.pk)
            if status == "sent":
                break
            time.sleep(0.02)
        seen_during_the_call.append(status)

    aws.client("sqs").meta.events.register("provide-client-params.sqs.ChangeMessageVisibility", slow_sqs)
    sandbox.fail_next("sendMessage", 502)
    lambda_sender.invoke(event)
    assert seen_during_the_call == ["sent"]
    assert Delivery.objects.get(pk=a.pk).status == "queued"


def test_every_answered_call_has_its_window_measured(db, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks):
    from project.notifications.sending import sender

    for chat in (8901, 8902, 8903):
        sandbox.add_user(chat)
    with django_capture_on_commit_callbacks(execute=True):
        for chat in (8901, 8902, 8903):
            send_telegram(chat, "sendMessage", {"text": "x"})
    sandbox.fail_next("sendMessage", 400, description="Bad Request: message is too long")
    lambda_sender.invoke(lambda_sender.receive_event())
    summary = sender().stats_summary()
    assert summary["windows"] == 3 and summary["sent"] == 2 and summary["bad_request"] == 1
    assert 0 <= summary["window_p50_ms"] <= summary["window_max_ms"]
