"""
The sender: what handlers/sender.py does with one SQS batch.

For each message: read the body, claim the delivery (flows/claim.py), wait for a rate-limit
slot (ratelimit.py), call the Bot API through python-telegram-bot (or send the email), and
settle the delivery by the outcome's class. The answer lists only the messages that must come
back (partial batch failures); their visibility is set first, so each returns exactly when
it should: after retry_after for a 429, after a growing backoff for 5xx and timeouts.

One Sender per container: one event loop (in its own thread) and one initialised telegram.Bot, reused by every
invocation (PTB's HTTP client belongs to the loop it first ran on, so a Bot must never
outlive its loop, and asyncio.run per call would pay for a new client and loop each time).
Database work stays synchronous, in the calling thread; only the HTTP calls run in the
event loop's thread, concurrently, each starting at its reserved slot.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import math
import time
import warnings
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from project.core import observability

from . import conf, ratelimit
from .flows import claim as claims
from .flows import fallback
from .models import Delivery
from .outbox import UnknownBody, parse_body

logger = logging.getLogger(__name__)

# What infra/aws/stack.yaml and infra/local/aws_bootstrap.py set; used only when the queue's
# redrive policy cannot be read, so that the sender and the queue agree on the last receive.
DEFAULT_MAX_RECEIVE_COUNT = 8

# Calls that count against Telegram's sending limits. answerCallbackQuery does not, and a
# person is watching a spinner until it arrives.
LIMITED_METHODS = {"sendMessage", "editMessageText", "editMessageReplyMarkup"}
# Reserve a global slot this long before the chat's own slot comes due (keeps the global
# schedule free of holes while bounding how far ahead one instance books).
LOOKAHEAD = 0.05
# How far ahead of now one instance may book the bot's global schedule (see ratelimit.py).
GLOBAL_HORIZON = 0.5
# A limited send that wakes later than this after its slot books a new slot instead.
LATE_TOLERANCE = 0.015


@dataclass
class Outcome:
    status: str  # "sent", "retry_after", "blocked", "bad_request", "retry"
    message_id: str = ""
    error: str = ""
    retry_after: float = 0.0


@dataclass
class Job:
    record: dict
    delivery: Delivery
    ready_at: float = 0.0
    slot: float = 0.0
    chat_slot: float | None = None
    outcome: Outcome | None = None
    extra: dict = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        return self.record["messageId"]

    @property
    def receive_count(self) -> int:
        try:
            return int(self.record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        except (TypeError, ValueError):
            return 1

    @property
    def limited(self) -> bool:
        return self.delivery.channel == Delivery.Channel.TELEGRAM and self.delivery.method in LIMITED_METHODS


class Sender:
    """One per container (see module docstring)."""

    def __init__(self):
        # The loop runs in its own thread, so sends start at their slots even while this
        # thread is busy with the database (a late send crowds the next one into Telegram's
        # window). Coroutines are handed to it with run_coroutine_threadsafe.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sender-loop", daemon=True)
        self.thread.start()
        # The payloads are raw Bot API parameters, so calls go through do_api_request, which
        # PTB would rather see replaced by its typed methods; that advice does not apply here.
        from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

        warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)
        # RetryAfter reads its own retry_after when built; we handle int and timedelta alike.
        warnings.filterwarnings("ignore", message=r".*`retry_after`", category=PTBDeprecationWarning)
        self._bot = None
        self._bot_base_url = ""
        self._max_receives: dict[str, int] = {}
        self.stats = {"api_calls": 0, "sent": 0, "retry_after": 0, "late": 0}

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

    def close(self) -> None:
        try:
            if self._bot is not None:
                self.run(self._bot.shutdown())
                self._bot = None
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
            self.loop.close()

    # --- one SQS batch -----------------------------------------------------------------------
    def handle(self, event: dict) -> dict:
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
            jobs.append(Job(record, claim.delivery))
        email_jobs = [job for job in jobs if job.delivery.channel == Delivery.Channel.EMAIL]
        telegram_jobs = [job for job in jobs if job.delivery.channel == Delivery.Channel.TELEGRAM]
        if telegram_jobs:
            self._run_telegram(telegram_jobs, failures)
        for job in email_jobs:
            self._send_email(job, failures)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    # --- Telegram: slots, concurrent calls, outcomes ---------------------------------------------
    def _run_telegram(self, jobs: list[Job], failures: list[str]) -> None:
        bot = self.bot()
        now = time.time()
        hold = conf.max_hold_seconds()
        pending: list[Job] = []
        # When each chat is next free, for the whole batch in one query (nothing is booked
        # until the loop below).
        chat_free_at = ratelimit.peek_many({ratelimit.chat_key(job.delivery.chat_id) for job in jobs if job.limited})
        for job in jobs:
            job.ready_at = now
            if job.limited:
                job.ready_at = max(now, chat_free_at[ratelimit.chat_key(job.delivery.chat_id)])
                if job.ready_at - now > hold:
                    self._defer(job, job.ready_at - now, failures, "waiting for the chat's rate limit")
                    continue
            pending.append(job)
        pending.sort(key=lambda j: j.ready_at)

        calls: dict[concurrent.futures.Future, Job] = {}
        while pending or calls:
            now = time.time()
            due = []
            while pending and pending[0].ready_at <= now:
                due.append(pending.pop(0))
            limited = [job for job in due if job.limited]
            for job in due:
                if not job.limited:
                    job.slot = now
                    calls[asyncio.run_coroutine_threadsafe(self._call_at(bot, job), self.loop)] = job
            # One transaction books every due message it can; the rest ask again when their
            # chat or the bot's schedule has room.
            booked = ratelimit.reserve_sends([job.delivery.chat_id for job in limited], now, LOOKAHEAD, GLOBAL_HORIZON) if limited else []
            for job, (slot, again_at, _busy) in zip(limited, booked):
                if slot is None:
                    if again_at - now > hold:
                        self._defer(job, again_at - now, failures, "waiting for the rate limits")
                    else:
                        job.ready_at = again_at
                        pending.append(job)
                    continue
                job.slot = slot
                calls[asyncio.run_coroutine_threadsafe(self._call_at(bot, job), self.loop)] = job
            pending.sort(key=lambda j: j.ready_at)
            timeout = max(0.0, pending[0].ready_at - time.time()) if pending else None
            if not calls:
                time.sleep(timeout or 0)
                continue
            done, _ = concurrent.futures.wait(list(calls), timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)
            finished = []
            for future in done:
                job = calls.pop(future)
                job.outcome = future.result()
                if job.outcome.status == "late":
                    job.ready_at = time.time()
                    pending.insert(0, job)
                else:
                    finished.append(job)
            if finished:
                # Outcomes that arrived together are recorded in one transaction (one commit).
                with transaction.atomic():
                    for job in finished:
                        self._settle_telegram(job, failures)

    async def _call_at(self, bot, job: Job) -> Outcome:
        from telegram import error as tg

        delay = job.slot - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = time.time() - job.slot
        if job.limited and late > LATE_TOLERANCE:
            # Woken too late (a busy machine, a paused container): going now would crowd the
            # next slot's send into Telegram's window. Give up this slot and book another.
            self.stats["late"] += 1
            return Outcome("late", error=f"woke {late * 1000:.0f} ms after its slot")
        delivery = job.delivery
        params = dict(delivery.payload)
        if delivery.method != "answerCallbackQuery":
            params["chat_id"] = delivery.chat_id
        self.stats["api_calls"] += 1
        try:
            result = await bot.do_api_request(delivery.method, api_kwargs=params)
        except tg.RetryAfter as exc:
            return Outcome("retry_after", error=str(exc), retry_after=_retry_after_seconds(exc))
        except tg.Forbidden as exc:
            return Outcome("blocked", error=exc.message)
        except tg.BadRequest as exc:
            if "message is not modified" in exc.message.lower():
                return Outcome("sent", error="")  # the edit is already what we wanted
            return Outcome("bad_request", error=exc.message)
        except tg.Conflict as exc:
            return Outcome("bad_request", error=exc.message)
        except tg.ChatMigrated as exc:
            # A group became a supergroup with a new id: this chat id will never work again.
            return Outcome("bad_request", error=f"group chat migrated to {exc.new_chat_id}")
        except (tg.TimedOut, tg.NetworkError, tg.TelegramError) as exc:
            return Outcome("retry", error=f"{type(exc).__name__}: {exc}")
        except asyncio.TimeoutError:
            return Outcome("retry", error="timed out")
        message_id = result.get("message_id", "") if isinstance(result, dict) else ""
        return Outcome("sent", message_id=str(message_id))

    @observability.context()  # the delivery's id on its log lines, only while settling it
    def _settle_telegram(self, job: Job, failures: list[str]) -> None:
        observability.bind(delivery_id=job.delivery.pk)
        observability.outcome("Telegram", job.outcome.status)  # TelegramTotal, TelegramRetryAfter, ...
        outcome, delivery, S = job.outcome, job.delivery, Delivery.Status
        if outcome.status == "sent":
            self.stats["sent"] += 1
            claims.settle(delivery, S.SENT, message_id=outcome.message_id)
        elif outcome.status == "retry_after":
            self.stats["retry_after"] += 1
            wait = outcome.retry_after
            # Everyone waits: the chat, and the bot as a whole (our accounting was off).
            until = time.time() + wait
            if delivery.chat_id is not None:
                ratelimit.push_back(ratelimit.chat_key(delivery.chat_id), until)
            ratelimit.push_back(ratelimit.GLOBAL, until)
            claims.settle(delivery, S.QUEUED, error=f"429: retry after {wait:g} s", due_in=wait)
            self._return_later(job, wait, failures)
        elif outcome.status == "blocked":
            with transaction.atomic():
                claims.settle(delivery, S.UNREACHABLE, error=outcome.error)
                fallback.telegram_unreachable(delivery, outcome.error)
        elif outcome.status == "bad_request":
            # Permanent: the message is malformed or the chat does not exist. Kept with its
            # reason; the SQS message is deleted (not reported).
            logger.warning("Delivery %s failed permanently: %s", delivery.pk, outcome.error)
            claims.settle(delivery, S.FAILED, error=f"400: {outcome.error}")
        else:
            self._retry(job, outcome.error, failures)

    # --- email --------------------------------------------------------------------------------
    @observability.context()
    def _send_email(self, job: Job, failures: list[str]) -> None:
        observability.bind(delivery_id=job.delivery.pk)
        from .flows import email as email_flow

        delivery = job.delivery
        try:
            skipped_reason = email_flow.send(delivery)
        except Exception as exc:  # the mail backend's errors: retry with backoff
            logger.warning("Email delivery %s failed: %s", delivery.pk, exc)
            self._retry(job, f"{type(exc).__name__}: {exc}", failures)
            return
        if skipped_reason:
            claims.settle(delivery, Delivery.Status.SKIPPED, error=skipped_reason, attempted=False)
        else:
            claims.settle(delivery, Delivery.Status.SENT)

    # --- returning a message to the queue -----------------------------------------------------
    def _retry(self, job: Job, error: str, failures: list[str]) -> None:
        """5xx, timeouts, network errors: back off, until the queue's redrive policy takes
        the message to the dead-letter queue (on its max-receive-count-th receive)."""
        if job.receive_count >= self.max_receive_count(queue_url_for(job.record)):
            claims.settle(job.delivery, Delivery.Status.FAILED,
                          error=f"{error} (gave up after {job.receive_count} tries; the message goes to the dead-letter queue)")
            failures.append(job.message_id)
            return
        delay = backoff_seconds(job.receive_count)
        claims.settle(job.delivery, Delivery.Status.QUEUED, error=error, due_in=delay)
        self._return_later(job, delay, failures)

    def _defer(self, job: Job, wait: float, failures: list[str], why: str) -> None:
        """Our own rate limit says later. That is not a failed try, so the delivery moves to a
        new message delayed by the wait and this one is deleted: the queue's receive count,
        and with it the dead-letter queue, only ever count real tries."""
        claims.settle(job.delivery, Delivery.Status.QUEUED, error=why, attempted=False, due_in=wait)
        if not self._requeue_delayed(job, wait):
            self._return_later(job, wait, failures)

    def _requeue_delayed(self, job: Job, seconds: float) -> bool:
        """Send the delivery again as a new message visible after `seconds`; False if it could not."""
        from project.core.aws import client

        from .outbox import message_body

        queue_url = getattr(settings, "OUTBOX_QUEUE_URL", "")
        if not queue_url or seconds > 900:  # SQS delays a message by 15 minutes at most
            return False
        try:
            client("sqs").send_message(
                QueueUrl=queue_url, MessageBody=message_body(job.delivery.pk), DelaySeconds=math.ceil(seconds)
            )
        except Exception as exc:  # fall back to this message's visibility
            logger.warning("Could not requeue delivery %s: %s", job.delivery.pk, exc)
            return False
        return True

    def _return_later(self, job: Job, seconds: float, failures: list[str]) -> None:
        """Report the message as failed, visible again after `seconds` (SQS counts whole seconds)."""
        failures.append(job.message_id)
        receipt = job.record.get("receiptHandle")
        queue_url = queue_url_for(job.record)
        if not receipt or not queue_url:
            return
        from project.core.aws import client

        try:
            client("sqs").change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=min(43_200, max(0, math.ceil(seconds)))
            )
        except Exception as exc:  # it comes back after the queue's default visibility instead
            logger.warning("Could not change the visibility of message %s: %s", job.message_id, exc)


def backoff_seconds(receive_count: int) -> float:
    """min(base * 2^(n-1), cap): 10 s, 20 s, 40 s, ... by default."""
    return min(conf.retry_base_seconds() * (2 ** max(0, receive_count - 1)), conf.retry_cap_seconds())


def queue_url_for(record: dict) -> str:
    """The queue a record came from: the stage's outbox queue, or its DLQ when replaying."""
    arn = record.get("eventSourceARN", "")
    for url in (getattr(settings, "OUTBOX_QUEUE_URL", ""), getattr(settings, "OUTBOX_DLQ_URL", "")):
        if url and arn and url.rstrip("/").rsplit("/", 1)[-1] == arn.rsplit(":", 1)[-1]:
            return url
    return getattr(settings, "OUTBOX_QUEUE_URL", "")


def _retry_after_seconds(exc) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


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
