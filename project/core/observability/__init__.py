"""
Signals an operator reads when something breaks (contract C8): metrics and log context.

Metrics go out as CloudWatch's embedded metric format (EMF): a JSON line on stdout, which
CloudWatch Logs turns into metrics as it ingests the function's log stream. No API call,
no client, nothing to wait for on the hot path. aws-lambda-powertools writes the EMF (see
docs/DEPENDENCIES.md); `metrics.py` holds the buffer.

    metric("TelegramRetryAfter")               # +1, unit Count
    metric("SomeLatency", 12.5, "Milliseconds")
    outcome("Telegram", "retry_after")         # TelegramTotal +1 and TelegramRetryAfter +1

Every metric carries the dimensions Stage (dev, prod, ...) and Function (site, webhook,
sender) in the namespace settings.METRICS_NAMESPACE; infra/aws/stack.yaml alarms on them.

Log context: the ids that let an operator follow one unit of work through the logs. The
JSON lines of a deployed stage (`jsonlog.py`) carry whichever of `request_id`, `update_id`
and `delivery_id` are bound when the line is written:

    @entry_point                    # a Lambda handler: request_id = the invocation's id;
    def handler(event, context):    # metrics are flushed when it returns (or raises)
        bind(update_id=...)         # from here to the end of the invocation

    with context(delivery_id=7):    # only inside the block (also a decorator: @context())
        ...

The site binds `request_id` per request in `middleware.RequestSignalsMiddleware`.

This module imports only the standard library (handlers/webhook.py imports it cold);
Django and Powertools are imported on first use.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import uuid

CONTEXT_KEYS = ("request_id", "update_id", "delivery_id")

# The bound ids. Each change sets a new dict (never mutated), so a thread or a task that
# copied the context keeps what it had, and leaving a block restores the outer ids.
_ids: contextvars.ContextVar[dict] = contextvars.ContextVar("observability_ids", default={})
# True inside an invocation (a Lambda call, a site request): metrics wait for its end.
_in_invocation: contextvars.ContextVar[bool] = contextvars.ContextVar("observability_invocation", default=False)


def _checked(ids: dict) -> dict:
    unknown = set(ids) - set(CONTEXT_KEYS)
    if unknown:
        raise TypeError(f"log context takes {', '.join(CONTEXT_KEYS)}, not {', '.join(sorted(unknown))}")
    return {key: value for key, value in ids.items() if value is not None}


def current_ids() -> dict:
    """The ids bound here and now (what the next log line carries)."""
    return _ids.get()


def bind(**ids) -> None:
    """Add ids to the current context, until the enclosing `context()` or invocation ends."""
    _ids.set({**_ids.get(), **_checked(ids)})


@contextlib.contextmanager
def context(**ids):
    """Bind ids inside a block (or a decorated function); the outer ids come back after it."""
    token = _ids.set({**_ids.get(), **_checked(ids)})
    try:
        yield
    finally:
        _ids.reset(token)


@contextlib.contextmanager
def invocation(**ids):
    """One unit of work: its own ids (nothing inherited) and its metrics, flushed at its end."""
    ids_token = _ids.set(_checked(ids))
    flag_token = _in_invocation.set(True)
    try:
        yield
    finally:
        try:
            flush()
        finally:
            _in_invocation.reset(flag_token)
            _ids.reset(ids_token)


def new_request_id() -> str:
    return uuid.uuid4().hex


def entry_point(handler):
    """Decorator for a Lambda handler(event, context): one invocation per call."""

    @functools.wraps(handler)
    def wrapper(event, lambda_context=None):
        request_id = getattr(lambda_context, "aws_request_id", None) or new_request_id()
        with invocation(request_id=request_id):
            return handler(event, lambda_context)

    return wrapper


def metric(name: str, value: float = 1, unit: str = "Count") -> None:
    """Count (or measure) something; an EMF line at the end of the invocation, or now outside one."""
    from . import metrics

    metrics.add(name, value, unit)
    if not _in_invocation.get():
        metrics.flush(_ids.get())


def outcome(kind: str, status: str) -> None:
    """One outcome of many (a Telegram call's, a webhook answer's): `<kind>Total` and
    `<kind><Status>` (retry_after -> RetryAfter), so a rate is the second over the first."""
    metric(f"{kind}Total")
    metric(kind + "".join(part.capitalize() for part in status.split("_")))


def flush() -> None:
    """Write the buffered metrics now (an invocation does this at its end)."""
    from . import metrics

    metrics.flush(_ids.get())
