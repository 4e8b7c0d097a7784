"""Issue 15 item 2: one lock order everywhere. Several senders at once book slots for hot
chats while 429s come back for them; on PostgreSQL a second lock order would end in
"deadlock detected" (settling a 429 used to lock chat A, then the bot's row, then chat B,
while booking locks the chats in key order, then the bot's row)."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import connection

from infra.local.sqs_poller import LocalContext
from project.notifications.outbox import message_body, send_telegram

pytestmark = pytest.mark.django_db(transaction=True)


def test_booking_slots_and_recording_429s_at_once_never_deadlock(sandbox, aws, settings, caplog):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and deadlock detection: PostgreSQL (SQLite takes one lock for the whole database)")
    from handlers.sender import handler

    settings.TELEGRAM_GLOBAL_RATE = 500.0  # slots 2 ms apart: answers arrive, and are settled, together
    settings.NOTIFICATIONS_MAX_HOLD = 2
    sandbox.set_limits(None)
    hot = list(range(9101, 9121))
    for chat in hot:
        sandbox.add_user(chat)
    sandbox.fail_next("sendMessage", 429, retry_after=1, count=100_000)  # Telegram says slow down, to everyone
    errors: list[BaseException] = []

    def one_sender(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for round_ in range(4):
                chats = rng.sample(hot, 6)
                ids = [send_telegram(chat, "sendMessage", {"text": f"{seed}/{round_}/{chat}"}).pk for chat in chats]
                event = {"Records": [
                    {"messageId": f"{seed}-{round_}-{i}", "receiptHandle": f"gone-{i}", "body": message_body(i),
                     "attributes": {"ApproximateReceiveCount": "1"}, "eventSourceARN": ""} for i in ids]}
                handler(event, LocalContext(30))
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever ended a sender
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_sender, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [t for t in threads if t.is_alive()]
    assert errors == []
    assert not [r for r in caplog.records if "deadlock" in r.getMessage().lower()]
    assert len(sandbox.refused()) >= 10  # the 429s did come back, again and again
