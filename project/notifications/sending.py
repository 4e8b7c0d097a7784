"""
The sender: what handlers/sender.py does with one SQS batch.

For each message: read the body, claim the delivery (flows/claim.py), then, within the
invocation's time budget, book a rate-limit slot (ratelimit.py), make the Bot API call at
that slot (sending_calls.py) or send the email, and record the outcome the moment it
arrives (sending_outcomes.py, the one place outcomes are written). SQS hears of it after
the commit (sending_queue.py). The answer lists only the messages that must come back
(partial batch failures). The loop itself is in sending_batch.py.

One Sender per container: one event loop (in its own thread) and one initialised
telegram.Bot, reused by every invocation (PTB's HTTP client belongs to the loop it first ran
on, so a Bot must never outlive its loop, and asyncio.run per call would pay for a new
client and loop each time). Database work stays in the calling thread; the HTTP calls run on
the loop's thread, each starting at its slot; SQS calls run on a small pool of their own; a
call that hangs past the invocation is recorded by the container's recorder thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
import warnings
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor

from django.db import OperationalError

from . import conf, ratelimit
from . import sending_outcomes as outcomes
from .flows import claim as claims
from .models import Delivery
from .outbox import UnknownBody, parse_body
from .sending_batch import Budget, Job, TelegramBatch
from .sending_calls import Outcome
from .sending_queue import Followups, change_visibility, delete_message, queue_url_for

logger = logging.getLogger(__name__)

__all__ = ["Sender", "sender", "reset_sender", "backoff_seconds", "queue_url_for", "DEFAULT_MAX_RECEIVE_COUNT"]

# What infra/aws/stack.yaml and infra/local/aws_bootstrap.py set; used only when the queue's
# redrive policy cannot be read, so that the sender and the queue agree on the last receive.
DEFAULT_MAX_RECEIVE_COUNT = 8
# The GIL hands over every 5 ms by default: a send whose slot comes while this thread writes
# to the database would wake that late. A container runs one sender; 1 ms keeps sends on time.
SWITCH_INTERVAL = 0.001


class Stats:
    """Counts per container, and the crash window of each recorded call (seconds from
    Telegram's answer to the committed outcome), for the benchmarks and docs/OUTBOX.md."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self.windows: deque[float] = deque(maxlen=200_000)
        self.late: deque[float] = deque(maxlen=200_000)  # how late each limited send woke

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def window(self, seconds: float) -> None:
        self.windows.append(seconds)

    def lateness(self, seconds: float) -> None:
        self.late.append(seconds)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def summary(self) -> dict:
        def pick(values, p: float) -> float:
            return 1000 * values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")

        windows, late = sorted(self.windows), sorted(self.late)
        return {**self.counts, "windows": len(windows), "window_p50_ms": pick(windows, 0.5),
                "window_p99_ms": pick(windows, 0.99), "window_max_ms": pick(windows, 1.0),
                "late_p50_ms": pick(late, 0.5), "late_p90_ms": pick(late, 0.9), "late_p99_ms": pick(late, 0.99)}


class Sender:
    """One per container (see module docstring)."""

    def __init__(self):
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sender-loop", daemon=True)
        self.thread.start()
        self.sqs = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sender-sqs")
        self.recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sender-recorder")
        # The payloads are raw Bot API parameters, so calls go through do_api_request, which
        # PTB would rather see replaced by its typed methods; that advice does not apply here.
        from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

        warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)
        # RetryAfter reads its own retry_after when built; we handle int and timedelta alike.
        warnings.filterwarnings("ignore", message=r".*`retry_after`", category=PTBDeprecationWarning)
        self._bot = None
        self._bot_base_url = ""
        self._max_receives: dict[str, int] = {}
        self._adopted: set = set()
        # No limited send of this container leaves before this time (a 429 here or elsewhere).
        self.paused_until = 0.0
        self.stats = Stats()
        self.trace = None  # the benchmarks' event log: trace(event, **fields)

    # --- the Bot, built once -----------------------------------------------------------------
    def bot(self):
        from project.core.telegram import bot_api_base_url, make_bot

        base_url = bot_api_base_url()
        if self._bot is None or self._bot_base_url != base_url:
            if self._bot is not None:  # the stage's API server changed (tests): start over
                self.run(self._bot.shutdown())
            timeout = conf.send_timeout_seconds()
            bot = make_bot(
                connection_pool_size=32, read_timeout=timeout, write_timeout=timeout,
                connect_timeout=timeout, pool_timeout=timeout,
            )
            self.run(bot.initialize())
            self._bot, self._bot_base_url = bot, base_url
        return self._bot

    def max_receive_count(self, queue_url: str) -> int:
        """The queue's redrive maxReceiveCount, read once per container (default: the stack's 8)."""
        override = conf.max_receive_count()
        if override:
            return override
        if queue_url not in self._max_receives:
            count = DEFAULT_MAX_RECEIVE_COUNT
            try:
                from project.core.aws import client

                attributes = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
                policy = json.loads(attributes.get("Attributes", {}).get("RedrivePolicy") or "{}")
                count = int(policy.get("maxReceiveCount") or count)
            except Exception as exc:  # keep the default; the redrive policy still applies
                logger.warning("Could not read the queue's redrive policy: %s", exc)
            self._max_receives[queue_url] = count
        return self._max_receives[queue_url]

    def run(self, coroutine, timeout: float | None = 30):
        """Run a coroutine on the container's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def note_pause(self, until: float) -> None:
        """The bot is paused until `until` (read from the database, or a 429 here)."""
        if until > self.paused_until:
            self.paused_until = until

    def stats_summary(self) -> dict:
        return self.stats.summary()

    def close(self) -> None:
        try:
            self._wait_for_adopted(conf.send_timeout_seconds() + 5)
            self.recorder.shutdown(wait=True)
            self.sqs.shutdown(wait=True)
            if self._bot is not None:
                self.run(self._bot.shutdown())
                self._bot = None
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            self.loop.close()

    # --- one SQS batch -----------------------------------------------------------------------
    def handle(self, event: dict, context=None) -> dict:
        budget = Budget.for_invocation(context)
        if self.trace:
            self.trace("batch", n=len(event.get("Records", [])))
        failures: list[str] = []
        jobs: list[Job] = []
        wanted: list[tuple[dict, int]] = []
        for record in event.get("Records", []):
            try:
                wanted.append((record, parse_body(record.get("body", ""))))
            except UnknownBody as exc:
                # Another version of the body, or not ours: leave it to go to the dead-letter
                # queue, where an operator can look at it.
                logger.error("Outbox message %s: %s; leaving it for the dead-letter queue.", record.get("messageId"), exc)
                failures.append(record.get("messageId", ""))
        claimed = claims.claim_many([delivery_id for _record, delivery_id in wanted])
        for record, delivery_id in wanted:
            claim = claimed[delivery_id]
            if claim.delivery is None:
                # Already settled, being sent by another instance (or by this batch: the
                # same delivery twice), or rolled back: drop the message.
                logger.info("Outbox message %s for delivery %s dropped (%s).", record.get("messageId"), delivery_id, claim.reason)
                continue
            claimed[delivery_id] = claims.Claim(None, "busy")  # a second copy in this batch
            jobs.append(Job(record, claim.delivery, queue_url=queue_url_for(record)))
        followups = Followups(self.sqs, self.stats)
        telegram = [job for job in jobs if job.delivery.channel == Delivery.Channel.TELEGRAM]
        if telegram:
            TelegramBatch(self, telegram, budget, followups, failures).run()
        for job in jobs:
            if job.delivery.channel == Delivery.Channel.EMAIL:
                self._send_email(job, budget, followups, failures)
        answer = {"batchItemFailures": self._finish(followups, failures, budget)}
        if self.trace:
            self.trace("batch_end", n=len(jobs))
        return answer

    def _finish(self, followups: Followups, failures: list[str], budget: Budget) -> list[dict]:
        report, unqueued, enqueued = followups.finish(budget.deadline - 0.5)
        failures = failures + [job.message_id for job in report + unqueued]
        emails = outcomes.give_up_unqueued(self, unqueued) if unqueued else []
        if emails:
            from .outbox import enqueue_now

            enqueue_now(emails)
        if enqueued:
            from django.utils import timezone

            Delivery.objects.filter(id__in=enqueued).update(enqueued_at=timezone.now())
        return [{"itemIdentifier": message_id} for message_id in dict.fromkeys(failures)]

    # --- email --------------------------------------------------------------------------------
    def _send_email(self, job: Job, budget: Budget, followups: Followups, failures: list[str]) -> None:
        from .flows import email as email_flow

        if time.time() >= budget.end_by:
            outcomes.defer(self, [(job, 1.0, "the invocation ran out of time")], followups)
            return
        try:
            skipped_reason = email_flow.send(job.delivery)
            job.outcome = Outcome("skipped", error=skipped_reason) if skipped_reason else Outcome("sent")
        except Exception as exc:  # the mail backend's errors: retry with backoff
            logger.warning("Email delivery %s failed: %s", job.delivery.pk, exc)
            job.outcome = Outcome("retry", error=f"{type(exc).__name__}: {exc}")
        job.outcome.answered_at = time.time()
        outcomes.record(self, [job])
        if job.step.kind == outcomes.RETURN_LATER:
            followups.return_later(job, job.step.seconds)
        elif job.step.kind == outcomes.REPORT:
            failures.append(job.message_id)

    # --- calls that answered after their invocation ------------------------------------------------
    def adopt(self, job: Job) -> None:
        """Record `job`'s outcome on the recorder thread when its call answers."""
        self._adopted.add(job)
        job.future.add_done_callback(lambda _future: self.recorder.submit(self._record_adopted, job))

    def _record_adopted(self, job: Job) -> None:
        from django.db import close_old_connections

        close_old_connections()
        try:
            job.outcome = job.future.result()
            if not job.outcome.called:  # paused or late after all: nothing was sent
                job.outcome = Outcome("retry", error=job.outcome.error, answered_at=time.time())
            for attempt in range(5):  # SQLite: another writer may hold the database for a moment
                try:
                    outcomes.record(self, [job])
                    break
                except OperationalError:
                    if attempt == 4:
                        raise
                    time.sleep(0.05)
            step = job.step
            if job.outcome.status == "retry_after":
                self.note_pause(ratelimit.record_429(job.delivery.chat_id, job.outcome.retry_after,
                                                     job.outcome.answered_at))
            if step.enqueue:
                from .outbox import enqueue_now

                enqueue_now(step.enqueue)
            # Its message was reported, visible again after the lease: now it is deleted (the
            # outcome is final), or comes back when the delivery is due (or at once, to go on
            # to the dead-letter queue when the sender gave up).
            if step.kind == outcomes.DONE:
                delete_message(job.record)
            else:
                change_visibility(job.record, step.seconds if step.kind == outcomes.RETURN_LATER else 0)
        except Exception:
            logger.exception("Recording the late answer for delivery %s failed; its message comes back after the "
                             "claim's lease.", job.delivery.pk)
        finally:
            self._adopted.discard(job)
            close_old_connections()

    def _wait_for_adopted(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._adopted and time.monotonic() < deadline:
            time.sleep(0.05)


def backoff_seconds(receive_count: int) -> float:
    """min(base * 2^(n-1), cap): 10 s, 20 s, 40 s, ... by default."""
    return min(conf.retry_base_seconds() * (2 ** max(0, receive_count - 1)), conf.retry_cap_seconds())


_sender: Sender | None = None


def sender() -> Sender:
    """The container's Sender, built on first use."""
    global _sender
    if _sender is None:
        _sender = Sender()
    return _sender


def reset_sender() -> None:
    """Forget the container's Sender (tests that switch stage settings)."""
    global _sender
    if _sender is not None:
        _sender.close()
    _sender = None
