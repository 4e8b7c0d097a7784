"""
boto3 clients, one per service per container, each with bounded time.

Creating a client costs about 200 ms, so it happens on first use, never at import time, and
the client is reused for the life of the container. AWS_ENDPOINT_URL (boto3's own variable)
points every client at moto locally.

Why every client has timeouts and bounded retries: botocore's defaults are a 60 s connect
and a 60 s read timeout, retried (legacy mode) up to five times. An endpoint that accepts a
connection and never answers would hold the webhook (20 s function timeout) for minutes:
Lambda kills it at its timeout, Telegram resends, and the next container hangs the same
way. With the values below one call takes at most

    MAX_ATTEMPTS x (CONNECT_TIMEOUT + READ_TIMEOUT) + one backoff (< 1 s)
        = 2 x (1 + 3) + 1 = 9 s

under half the shortest function timeout (the webhook's 20 s), so a function always gets to
answer (the webhook a 5xx that Telegram retries, the sender a batch failure SQS redelivers).
The AWS calls made here (GetSecretValue, SendMessage(Batch), Delete/ChangeVisibility, SES
send) answer in well under 100 ms in a region; 3 s is a stall, not slowness. A caller that
long-polls (the local SQS poller) asks for a longer read timeout with `read_timeout=`.

AWS_CONNECT_TIMEOUT, AWS_READ_TIMEOUT and AWS_MAX_ATTEMPTS override the values (seconds,
seconds, total attempts including the first).

Lambda is the exception: its Invoke answers when the invoked function has finished (up to
its timeout, 900 s at most), and is not idempotent (a retried Invoke runs the function again,
a migration twice). No function invokes another; the operator commands do (`doctor`'s check
in the site function), so a `lambda` client waits up to Lambda's own limit and never retries.
"""

from __future__ import annotations

import functools
import os

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 3.0
MAX_ATTEMPTS = 2


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds/attempts, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {raw!r}")
    return value


LAMBDA_INVOKE_TIMEOUT = 900.0  # Lambda's longest function timeout


def client_config(*, read_timeout: float | None = None, service: str = ""):
    """The botocore Config every client of this project uses (django-ses's too)."""
    from botocore.config import Config

    if service == "lambda":
        return Config(connect_timeout=_number("AWS_CONNECT_TIMEOUT", CONNECT_TIMEOUT),
                      read_timeout=read_timeout or LAMBDA_INVOKE_TIMEOUT,
                      retries={"mode": "standard", "total_max_attempts": 1})
    return Config(
        connect_timeout=_number("AWS_CONNECT_TIMEOUT", CONNECT_TIMEOUT),
        read_timeout=read_timeout or _number("AWS_READ_TIMEOUT", READ_TIMEOUT),
        # "standard" retries transient errors and throttling with jittered backoff; the
        # total includes the first attempt.
        retries={"mode": "standard", "total_max_attempts": int(_number("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS))},
    )


def worst_case_seconds() -> float:
    """The longest one call can take with client_config() (for tests and docs)."""
    attempts = int(_number("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS))
    per_attempt = _number("AWS_CONNECT_TIMEOUT", CONNECT_TIMEOUT) + _number("AWS_READ_TIMEOUT", READ_TIMEOUT)
    return attempts * per_attempt + (attempts - 1) * 1.0


def _region() -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1"
    try:
        from django.conf import settings

        region = getattr(settings, "AWS_REGION", region)
    except Exception:  # settings not configured yet (settings.py reading the secret)
        pass
    return region


@functools.cache
def client(service: str, *, read_timeout: float | None = None):
    import boto3

    return boto3.session.Session().client(
        service, region_name=_region(), config=client_config(read_timeout=read_timeout, service=service)
    )


def reset_clients() -> None:
    """Drop cached clients (tests that switch moto on and off), and boto3's default session,
    which keeps the first credentials it resolved (operator commands use boto3.client)."""
    import boto3

    client.cache_clear()
    boto3.DEFAULT_SESSION = None
