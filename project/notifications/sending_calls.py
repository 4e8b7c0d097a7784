"""
One Bot API call, at its slot, on the container's event loop, and what its answer means.

The outcome classes are those of docs/OUTBOX.md. Two outcomes make no call at all: "late"
(the send woke too long after its slot, and going now could crowd a later send into
Telegram's one-second window) and "paused" (a 429, here or at another instance, paused the
bot before the slot came). The sender gives those their slot back and books another.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from dataclasses import dataclass

# Calls that count against Telegram's sending limits. answerCallbackQuery does not, and a
# person is watching a spinner until it arrives.
LIMITED_METHODS = {"sendMessage", "editMessageText", "editMessageReplyMarkup"}
# A limited send that wakes late still goes. The rate's margin (30 slots at
# TELEGRAM_GLOBAL_RATE span more than Telegram's second: 27 ms at 29.2/s) absorbs
# LATE_TOLERANCE of it and leaves the rest for the jitter between a request leaving and
# reaching Telegram; the bot's schedule is moved on by any lateness beyond that
# (ratelimit.shift), so the send 30 slots on cannot come within Telegram's second of it.
# Lateness then costs its own length, never a 429, and a slot only when it is far too late
# (LATE_LIMIT: a paused container, a stalled machine): the slot is given back, a new one booked.
LATE_TOLERANCE = 0.010
LATE_LIMIT = 0.1


@dataclass
class Outcome:
    status: str  # "sent", "retry_after", "blocked", "bad_request", "retry"; no call: "late", "paused"
    message_id: str = ""
    error: str = ""
    retry_after: float = 0.0
    answered_at: float = 0.0  # time.time() when Telegram's answer (or the error) arrived

    @property
    def called(self) -> bool:
        return self.status not in ("late", "paused")


async def call_at(sender, bot, job) -> Outcome:
    """Wait for the job's slot, then make its call (unless paused or late by then)."""
    from telegram import error as tg

    delay = job.slot - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    if job.limited:
        if job.slot < sender.paused_until:
            return Outcome("paused", error="the bot is paused by a 429")
        late = time.time() - job.slot
        if late > LATE_LIMIT:
            # Woken far too late (a paused container, a stalled machine): give this slot
            # back and book another.
            return Outcome("late", error=f"woke {late * 1000:.0f} ms after its slot")
        job.late_by = max(0.0, late - LATE_TOLERANCE)
        sender.stats.lateness(late)
    delivery = job.delivery
    params = dict(delivery.payload)
    if delivery.method != "answerCallbackQuery":
        params["chat_id"] = delivery.chat_id
    sender.stats.count("api_calls")
    if sender.trace:
        sender.trace("depart", d=delivery.pk, slot=job.slot, text=str(delivery.payload.get("text", ""))[:60])
    try:
        result = await bot.do_api_request(delivery.method, api_kwargs=params)
    except tg.RetryAfter as exc:
        wait = _retry_after_seconds(exc)
        # Every send of this instance still sleeping towards its slot stays home from now on;
        # the other instances learn it from the database (ratelimit.record_429).
        sender.paused_until = max(sender.paused_until, time.time() + wait)
        return Outcome("retry_after", error=str(exc), retry_after=wait, answered_at=time.time())
    except tg.Forbidden as exc:
        return Outcome("blocked", error=exc.message, answered_at=time.time())
    except tg.BadRequest as exc:
        if "message is not modified" in exc.message.lower():
            return Outcome("sent", answered_at=time.time())  # the edit is already what we wanted
        return Outcome("bad_request", error=exc.message, answered_at=time.time())
    except tg.Conflict as exc:
        return Outcome("bad_request", error=exc.message, answered_at=time.time())
    except tg.ChatMigrated as exc:
        # A group became a supergroup with a new id: this chat id will never work again.
        return Outcome("bad_request", error=f"group chat migrated to {exc.new_chat_id}", answered_at=time.time())
    except (tg.TimedOut, tg.NetworkError, tg.TelegramError) as exc:
        return Outcome("retry", error=f"{type(exc).__name__}: {exc}", answered_at=time.time())
    except asyncio.TimeoutError:
        return Outcome("retry", error="timed out", answered_at=time.time())
    message_id = result.get("message_id", "") if isinstance(result, dict) else ""
    return Outcome("sent", message_id=str(message_id), answered_at=time.time())


# PTB 22.2+ warns that `RetryAfter.retry_after` will become a timedelta; both are read below.
# One filter for the process, not warnings.catch_warnings() around the read: that swaps the
# process's filters and is not thread-safe (the sender reads it on several threads).
warnings.filterwarnings("ignore", message=r".*`retry_after` will be of type `datetime\.timedelta`")


def _retry_after_seconds(exc) -> float:
    value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)
