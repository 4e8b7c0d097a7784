"""
One invocation's Telegram work: slots, calls in flight, outcomes, within a time budget.

The loop, in order of priority:

1. Outcomes that have arrived are committed first (sending_outcomes.record), then acted on.
2. What cannot go out by `book_until` goes back to the queue at once, delayed to its slot:
   up front by an estimate (each chat's messages one interval apart, the bot's at its
   rate), and whatever is still waiting when `book_until` comes (issue 15 item 1).
3. Due messages book slots (one transaction for all of them) and their calls are started on
   the container's event loop, each sleeping until its slot.
4. While this instance has sends booked, it looks at the bot's pause every PAUSE_POLL, so a
   429 at another instance keeps its sends home too (item 6).
5. A call still unanswered STRAGGLER_AFTER after its slot, when nothing else is left, does
   not hold the invocation: its message is reported (visible again only after the claim's
   lease) and the container records its outcome when the answer comes (item 7).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from dataclasses import dataclass

from . import conf, ratelimit
from . import sending_outcomes as outcomes
from .models import Delivery
from .sending_calls import LIMITED_METHODS, call_at

logger = logging.getLogger(__name__)

# Reserve a global slot this long before the chat's own slot comes due (keeps the global
# schedule free of holes while bounding how far ahead one instance books).
LOOKAHEAD = 0.05
# How often an instance with sends booked reads the bot's pause (a 429 elsewhere).
PAUSE_POLL = 0.05


@dataclass(eq=False)  # a job is itself: compared by identity
class Job:
    record: dict
    delivery: Delivery
    queue_url: str = ""
    ready_at: float = 0.0
    slot: float = 0.0
    booked_interval: float = 0.0  # the bot's interval when its slot was booked (0: no slot held)
    late_by: float = 0.0  # how late its send left (the schedule moves on by as much)
    future: concurrent.futures.Future | None = None
    outcome: object = None
    step: object = None

    @property
    def message_id(self) -> str:
        return self.record.get("messageId", "")

    @property
    def receive_count(self) -> int:
        try:
            return int(self.record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        except (TypeError, ValueError):
            return 1

    @property
    def limited(self) -> bool:
        return self.delivery.channel == Delivery.Channel.TELEGRAM and self.delivery.method in LIMITED_METHODS


@dataclass
class Budget:
    """When this invocation stops booking sends, and when it must be done."""

    started: float
    book_until: float
    end_by: float
    deadline: float  # the function's timeout

    @classmethod
    def for_invocation(cls, context=None, now: float | None = None) -> "Budget":
        from project.core.aws import worst_case_seconds

        now = time.time() if now is None else now
        remaining = None
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if callable(getter):
            try:
                remaining = float(getter()) / 1000.0
            except (TypeError, ValueError):
                remaining = None
        if remaining is None:  # no Lambda context (a test, a script): the function's timeout
            remaining = conf.function_timeout_seconds()
        # Kept back at the end: the SQS calls that follow the last outcomes, and Lambda's
        # own bookkeeping.
        reserve = min(worst_case_seconds() + 1.0, 0.25 * remaining)
        end_by = now + remaining - reserve
        book_until = min(now + conf.max_hold_seconds(), end_by - conf.straggler_after_seconds())
        return cls(now, book_until, end_by, now + remaining)


class TelegramBatch:
    def __init__(self, sender, jobs: list[Job], budget: Budget, followups, failures: list[str]):
        self.sender, self.budget, self.followups, self.failures = sender, budget, followups, failures
        self.jobs = jobs
        self.pending: list[Job] = []
        self.in_flight: list[Job] = []
        self.last_look = 0.0
        self.shift = 0.0  # lateness not yet added to the bot's schedule

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        bot = self.sender.bot()
        self.plan(time.time())
        try:
            self.loop(bot)
        finally:
            self.flush_shift()  # no booking follows: write it now

    def loop(self, bot) -> None:
        while self.pending or self.in_flight:
            finished = [job for job in self.in_flight if job.future.done()]
            if finished:
                self.settle(finished)
                continue
            now = time.time()
            beyond = [job for job in self.pending if now >= self.budget.book_until or job.ready_at > self.budget.book_until]
            if beyond:
                self.pending = [job for job in self.pending if job not in beyond]
                self.defer_estimated(beyond, now)
                continue
            due = [job for job in self.pending if job.ready_at <= now]
            if due:
                self.pending = [job for job in self.pending if job.ready_at > now]
                self.dispatch(bot, due, now)
                continue
            if self.in_flight and not self.pending:
                stragglers = [job for job in self.in_flight if now - job.slot > conf.straggler_after_seconds()]
                if now >= self.budget.end_by or len(stragglers) == len(self.in_flight):
                    self.hand_over(self.in_flight)
                    self.in_flight = []
                    break
            self.look_for_pause(now)
            self.wait(now)

    def flush_shift(self) -> None:
        if self.shift:
            ratelimit.shift(self.shift)
            self.shift = 0.0

    def wait(self, now: float) -> None:
        times = []
        if self.pending:
            times += [min(job.ready_at for job in self.pending), self.budget.book_until]
        if self.in_flight:
            times.append(self.budget.end_by)
            if not self.pending:  # when every call still out will count as hanging
                times.append(max(job.slot for job in self.in_flight) + conf.straggler_after_seconds())
            if self._booked_ahead(now):
                times.append(self.last_look + PAUSE_POLL)
        timeout = max(0.0, min(times) - time.time()) if times else 0.0
        entered = time.time()
        if self.in_flight:
            concurrent.futures.wait([job.future for job in self.in_flight], timeout=timeout,
                                    return_when=concurrent.futures.FIRST_COMPLETED)
        else:
            time.sleep(timeout)
        if self.sender.trace:  # the benchmarks tell the thread's waits from its work
            self.sender.trace("wait", a=entered, t=time.time())

    # --- planning and deferring ---------------------------------------------------------------
    def plan(self, now: float) -> None:
        """Estimate every limited job's slot; what cannot go by book_until goes back now."""
        limited = [job for job in self.jobs if job.limited]
        self.pending = [job for job in self.jobs if not job.limited]
        for job in self.pending:
            job.ready_at = now
        if not limited:
            return
        ratelimit.prepare(job.delivery.chat_id for job in limited)
        keys = {ratelimit.chat_key(job.delivery.chat_id) for job in limited}
        free = ratelimit.peek_many(keys)
        bot = ratelimit.peek_global()
        self.sender.note_pause(bot["paused_until"])
        later = []
        for job, estimate in self.estimate(limited, now, free, bot):
            (later if estimate > self.budget.book_until else self.pending).append(job)
            if estimate > self.budget.book_until:
                job.ready_at = estimate
        self.defer_at(later, now, "waiting for the rate limits")

    def estimate(self, jobs: list[Job], now: float, chat_free: dict, bot: dict) -> list[tuple[Job, float]]:
        """Each job's earliest slot if this instance had the bot to itself: the chat's
        messages one chat interval apart, all of them at the bot's current rate. Sets
        `ready_at` (when the job's chat is free). Optimistic, so nothing goes back early."""
        position: dict[int, int] = {}
        for job in jobs:
            chat = job.delivery.chat_id
            free = max(now, chat_free.get(ratelimit.chat_key(chat), 0.0))
            job.ready_at = free + position.get(chat, 0) * ratelimit.chat_interval(chat)
            position[chat] = position.get(chat, 0) + 1
        jobs = sorted(jobs, key=lambda job: job.ready_at)
        g = max(now, bot["next_at"], bot["paused_until"], self.sender.paused_until)
        interval = 1.0 / bot["effective_rate"]
        estimates = []
        for job in jobs:
            slot = max(job.ready_at, g)
            g = slot + interval
            estimates.append((job, slot))
        return estimates

    def defer_estimated(self, jobs: list[Job], now: float) -> None:
        bot = ratelimit.peek_global()
        free = ratelimit.peek_many({ratelimit.chat_key(job.delivery.chat_id) for job in jobs})
        for job, estimate in self.estimate(jobs, now, free, bot):
            job.ready_at = estimate
        self.defer_at(jobs, now, "waiting for the rate limits")

    def defer_at(self, jobs: list[Job], now: float, why: str) -> None:
        outcomes.defer(self.sender, [(job, max(1.0, job.ready_at - now), why) for job in jobs], self.followups)

    # --- booking and calling ----------------------------------------------------------------------
    def dispatch(self, bot, due: list[Job], now: float) -> None:
        limited = [job for job in due if job.limited]
        for job in due:
            if not job.limited:
                self.start(bot, job, now)
        if not limited:
            return
        horizon = conf.booking_horizon_seconds()
        bookings = ratelimit.reserve_sends([job.delivery.chat_id for job in limited], now, LOOKAHEAD, horizon,
                                           shift=self.shift)
        self.shift = 0.0
        self.last_look = time.time()
        self.sender.note_pause(bookings.paused_until)
        later = []
        for job, booking in zip(limited, bookings):
            if booking.slot is None:
                # The bot's schedule is full up to the horizon: come back when half of it has
                # gone, to book several slots in one transaction rather than one per slot.
                job.ready_at = booking.again_at + (horizon / 2 if booking.busy == "global" else 0.0)
                (later if booking.again_at > self.budget.book_until else self.pending).append(job)
            else:
                job.booked_interval = bookings.global_interval
                self.start(bot, job, booking.slot)
        if later:
            self.defer_estimated(later, now)

    def start(self, bot, job: Job, slot: float) -> None:
        job.slot, job.outcome, job.step, job.late_by = slot, None, None, 0.0
        job.future = asyncio.run_coroutine_threadsafe(call_at(self.sender, bot, job), self.sender.loop)
        self.in_flight.append(job)

    def look_for_pause(self, now: float) -> None:
        """With sends booked and sleeping, read the bot's pause now and then (a 429 elsewhere)."""
        if self._booked_ahead(now) and now - self.last_look >= PAUSE_POLL:
            self.last_look = now
            self.sender.note_pause(ratelimit.peek_global()["paused_until"])

    def _booked_ahead(self, now: float) -> bool:
        return any(job.limited and job.slot > now for job in self.in_flight)

    # --- outcomes -----------------------------------------------------------------------------
    def settle(self, finished: list[Job]) -> None:
        self.in_flight = [job for job in self.in_flight if job not in finished]
        for job in finished:
            job.outcome = job.future.result()
        called = [job for job in finished if job.outcome.called]
        if called:
            outcomes.record(self.sender, called, retry_until=self.budget.book_until)  # first: the commit
            late = max(job.late_by for job in called)
            if late:  # written with the next booking (one transaction fewer on the bot's row)
                self.sender.stats.count("late_sends")
                self.shift = max(self.shift, late)
        for job in finished:
            if not job.outcome.called:
                self.rebook(job)
        for job in called:
            self.act(job)

    def rebook(self, job: Job) -> None:
        """A send that woke late, or was paused: give its slots back and book again."""
        self.sender.stats.count(job.outcome.status)
        if job.booked_interval:
            ratelimit.release_send(job.delivery.chat_id, job.slot, job.booked_interval)
        job.booked_interval = 0.0
        job.ready_at = max(time.time(), self.sender.paused_until if job.outcome.status == "paused" else 0.0)
        self.pending.append(job)

    def act(self, job: Job) -> None:
        step = job.step
        if job.outcome.status == "retry_after":
            until = ratelimit.record_429(job.delivery.chat_id if job.limited else None, job.outcome.retry_after,
                                         job.outcome.answered_at)
            self.sender.note_pause(until)
        if step.enqueue:
            self.followups.enqueue(step.enqueue)
        if step.kind == outcomes.RETRY_HERE:
            job.booked_interval, job.ready_at = 0.0, step.at
            self.pending.append(job)
        elif step.kind == outcomes.DEFER:
            self.followups.requeue(job, step.seconds, step.why)
        elif step.kind == outcomes.RETURN_LATER:
            self.followups.return_later(job, step.seconds)
        elif step.kind == outcomes.REPORT:
            self.failures.append(job.message_id)

    # --- requests that hang ---------------------------------------------------------------------
    def hand_over(self, jobs: list[Job]) -> None:
        """Stop waiting for these calls: report their messages, visible again only after the
        claim's lease (so they find the delivery as the container will have recorded it, or,
        if the container is gone, a stale claim to take over), and let the container record
        each outcome when its answer comes."""
        visibility = conf.claim_lease_seconds() + conf.send_timeout_seconds()
        for job in jobs:
            logger.warning("Delivery %s: no answer %.1f s after its slot; the invocation goes on without it.",
                           job.delivery.pk, time.time() - job.slot)
            self.sender.stats.count("handed_over")
            self.followups.return_later(job, visibility)
            self.sender.adopt(job)
