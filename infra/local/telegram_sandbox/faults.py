"""Random faults for chaos runs: 5xx answers and hanging requests, drawn per call.

``fail_next``/``delay_next`` (recording.py) script exact faults for a test; a chaos run
wants them at random, at a rate, for as long as it runs::

    from infra.local.telegram_sandbox import faults
    faults.install(sandbox, faults.FaultPlan(error_rate=0.02, hang_rate=0.005, hang_seconds=12))
    ...
    faults.clear(sandbox)

A hang is what Telegram does under load: the request is held, then carried out anyway (the
message is delivered even if the client gave up waiting). An error is answered instead of
running the call (500, or 502 with nginx's page, as Telegram's front answers). Both count in
the record like any other call. The limits (limits.py) stay exactly as strict as before:
faults only add failures, they never admit a call the limits would refuse.

botapi.call_api asks ``draw()`` once per call (the only hook in the sandbox core).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

_ERROR_TEXT = {500: "Internal Server Error", 502: "Bad Gateway"}


@dataclass(frozen=True)
class FaultPlan:
    error_rate: float = 0.0      # share of calls answered with a 5xx instead of running
    hang_rate: float = 0.0       # share of calls held `hang_seconds` before running
    hang_seconds: float = 12.0
    statuses: tuple[int, ...] = (500, 502)
    methods: frozenset[str] = field(default_factory=lambda: frozenset({"sendmessage"}))
    seed: int | None = None


@dataclass(frozen=True)
class Draw:
    delay: float = 0.0
    error: tuple | None = None   # (status, description, parameters) as fail_next queues them


NOTHING = Draw()
_lock = threading.Lock()
_plans: dict[int, tuple[FaultPlan, random.Random]] = {}
_counts: dict[int, dict[str, int]] = {}


def install(sandbox, plan: FaultPlan) -> None:
    """Draw faults for every later call to `sandbox` (a Sandbox or a RunningSandbox)."""
    sb = getattr(sandbox, "sandbox", sandbox)
    with _lock:
        _plans[id(sb)] = (plan, random.Random(plan.seed))
        _counts[id(sb)] = {"errors": 0, "hangs": 0}


def clear(sandbox) -> dict[str, int]:
    """Stop drawing faults; returns how many were injected."""
    sb = getattr(sandbox, "sandbox", sandbox)
    with _lock:
        _plans.pop(id(sb), None)
        return _counts.pop(id(sb), {"errors": 0, "hangs": 0})


def counts(sandbox) -> dict[str, int]:
    sb = getattr(sandbox, "sandbox", sandbox)
    with _lock:
        return dict(_counts.get(id(sb), {"errors": 0, "hangs": 0}))


def draw(sb, method: str) -> Draw:
    """The fault, if any, for one call of `method` (called by botapi.call_api)."""
    entry = _plans.get(id(sb))
    if entry is None:
        return NOTHING
    plan, rng = entry
    if method.lower() not in plan.methods:
        return NOTHING
    with _lock:
        roll = rng.random()
        if roll < plan.error_rate:
            status = rng.choice(plan.statuses)
            _counts[id(sb)]["errors"] += 1
            return Draw(error=(status, _ERROR_TEXT.get(status, "Error"), None))
        if roll < plan.error_rate + plan.hang_rate:
            _counts[id(sb)]["hangs"] += 1
            return Draw(delay=plan.hang_seconds)
    return NOTHING
