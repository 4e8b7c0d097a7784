"""Issue 15 item 6: a 429 pauses the shared schedule for every instance for retry_after, and
the bot's rate backs off and recovers gradually. (The figures with the limiter misconfigured
at 60/s, two senders and Telegram's real limits: bench.sender_throughput.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from project.notifications import ratelimit
from tests.notifications.test_several_senders import ROOT, shared_database  # noqa: F401 - a fixture


def rate_at(at: float) -> float:
    """The bot's rate as the next booking sees it (books one send to a chat of its own)."""
    return ratelimit.reserve_sends([int(at * 10)], at=at, horizon=1e9).rate


def test_a_429_pauses_the_bot_for_everyone_and_lowers_its_rate(db, settings):
    settings.TELEGRAM_GLOBAL_RATE = 60.0  # misconfigured: Telegram allows about 30
    t = 10_000.0
    assert ratelimit.reserve_send(1, at=t).slot == t
    assert ratelimit.record_429(1, 2.0, at=t + 0.1) == pytest.approx(t + 2.1)
    # Nobody books during the pause, whatever the chat...
    assert ratelimit.reserve_send(2, at=t + 1.0)[2] == "global"
    # ...and afterwards at a lower rate: Telegram's documented limit less our margin.
    after = ratelimit.reserve_sends([3, 4], at=t + 2.1, horizon=10)
    assert after[0].slot == pytest.approx(t + 2.1)
    assert after[1].slot - after[0].slot == pytest.approx(1 / ratelimit.SAFE_RATE)
    # The other 429s of the same burst extend nothing and lower nothing further.
    assert ratelimit.record_429(5, 1.0, at=t + 0.3) == pytest.approx(t + 2.1)
    assert after.rate == rate_at(t + 2.5) == pytest.approx(ratelimit.SAFE_RATE)


def test_after_a_429_the_rate_probes_upwards_only_below_telegrams_documented_limit(db, settings):
    settings.TELEGRAM_GLOBAL_RATE = 60.0
    s, t = ratelimit.STABLE, 15_000.0
    ratelimit.record_429(None, 1.0, at=t)
    rates = [rate_at(t + 1 + k * s) for k in range(8)]
    assert rates[:3] == pytest.approx([29.2, (29.2 + 29.85) / 2, (29.2 + 29.85) / 2])  # close enough: stays
    assert all(a <= b <= ratelimit.PROBE_LIMIT for a, b in zip(rates, rates[1:]))


def test_the_rate_backs_off_with_each_429_recovers_in_steps_and_settles_below_what_drew_one(db, settings):
    settings.TELEGRAM_GLOBAL_RATE = 28.0  # below Telegram's documented limit: 429s come from a lower one
    s, b = ratelimit.STABLE, ratelimit.BACKOFF
    t = 20_000.0
    ratelimit.record_429(None, 1.0, at=t)                     # 28 drew a 429
    assert rate_at(t + 1) == pytest.approx(28 * b)
    for k in range(1, 6):                                     # and so did every rate down to 28 b^6
        ratelimit.record_429(None, 1.0, at=t + 2 * k)
    low = 28 * b ** 6
    assert rate_at(t + 12) == pytest.approx(low)
    assert rate_at(t + 11 + s - 0.1) == pytest.approx(low)    # not yet a clean period
    ceiling = 28 * b ** 5                                     # the lowest rate that drew a 429
    rates = [rate_at(t + 11 + k * s) for k in range(1, 8)]
    assert rates[0] == pytest.approx((low + ceiling) / 2)     # clean: halfway back up
    assert all(a <= b_ < ceiling for a, b_ in zip(rates, rates[1:]))  # never back to what drew a 429...
    assert ceiling - rates[-1] <= ratelimit.RESOLUTION               # ...but close below it
    # Long clean at that rate: the ceiling is forgotten, so a limit that was raised is found.
    later = t + 11 + 8 * s + ratelimit.FORGET_CEILING_AFTER
    assert rate_at(later) == pytest.approx(rates[-1])
    assert rate_at(later + s) == pytest.approx(min(28, rates[-1] * ratelimit.GROWTH))


def test_the_rate_never_exceeds_the_configured_one(db, settings):
    settings.TELEGRAM_GLOBAL_RATE = 25.0
    t = 30_000.0
    ratelimit.record_429(None, 1.0, at=t)
    for k in range(1, 30):
        assert rate_at(t + 1 + k * ratelimit.STABLE) <= 25.0
    settings.TELEGRAM_GLOBAL_RATE = 10.0  # lowered by a deploy: at once
    assert rate_at(t + 1000) == 10.0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the workers commit: the database is emptied after the test
def test_a_429_at_one_sender_keeps_the_sends_another_has_booked_at_home(aws, sandbox, shared_database):  # noqa: F811
    """Two sender processes. A sends 100 messages at 20/s (Telegram's limits are off here);
    B gets a 429 (retry after 30 s) for a call of its own. From then on A sends nothing:
    the sends it had already booked and was waiting to send stay home too (the old sender
    sent every slot it had booked), and its remaining messages wait, back on the queue."""
    url, query = shared_database
    sandbox.set_limits(None)
    chats = range(9201, 9301)
    for chat in chats:
        sandbox.add_user(chat)
    sandbox.add_user(9300 + 1)
    sqs = aws.client("sqs")
    queue_b = sqs.create_queue(QueueName="outbox-test-b", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url,
           "TELEGRAM_API_BASE_URL": sandbox.url, "NOTIF_SETTINGS": json.dumps({"TELEGRAM_GLOBAL_RATE": 20.0,
                                                            # A books 2 s ahead: what it holds when B's
                                                            # 429 comes is more than a busy machine's delay.
                                                            "NOTIFICATIONS_BOOKING_HORIZON": 2.0})}
    worker = [sys.executable, "-m", "tests.notifications.sender_worker"]

    def run(*args, queue=""):
        return subprocess.run([*worker, *args], cwd=ROOT, env={**env, "OUTBOX_QUEUE_URL": queue}, check=True,
                              capture_output=True, text=True)

    run("seed", "--chats", "100", "--first-chat", "9201", queue=aws.queue_url)
    [b_delivery] = json.loads(run("seed", "--chats", "1", "--first-chat", "9301", "--method", "editMessageText",
                                  "--no-enqueue").stdout.strip().splitlines()[-1])

    def start(queue, *args):
        return subprocess.Popen([*worker, "run", *args], cwd=ROOT, env={**env, "OUTBOX_QUEUE_URL": queue},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    b = start(queue_b, "--idle-exit", "30")
    a = start(aws.queue_url, "--idle-exit", "2", "--batch-size", "100", "--batching-window", "2")
    deadline = time.monotonic() + 60
    while len(sandbox.delivered()) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    sandbox.fail_next("editMessageText", 429, retry_after=30, description="Too Many Requests: retry after 30")
    sqs.send_message(QueueUrl=queue_b, MessageBody=json.dumps({"v": 1, "delivery_id": b_delivery}))
    out, err = a.communicate(timeout=120)
    b.terminate()
    b.communicate(timeout=30)
    assert a.returncode == 0, err[-2000:]
    [refused] = sandbox.refused()
    assert refused.method == "editMessageText"
    sent = sandbox.delivered()
    assert 5 <= len(sent) < 100
    stats = json.loads(out.strip().splitlines()[-1])
    assert sum(1 for r in sent if r.time > refused.time) < stats.get("paused", 0), stats
    # Sends A had booked, woke for, and kept home because of B's 429 (what A noticed within
    # a poll); the rest of its batch went back to the queue without booking.
    assert stats.get("paused", 0) >= 1, stats
    statuses = dict(query("SELECT status, COUNT(*) FROM notifications_delivery GROUP BY status"))
    assert statuses.get("sent") == len(sent) and statuses.get("queued", 0) >= 100 - len(sent)
