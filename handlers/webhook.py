"""
The Telegram webhook Lambda: `handler(event, context)`.

Accepts the events of API Gateway REST (v1), HTTP API (v2) and Lambda function URLs (the
same shape as v2). For each request, in this order:

  any path but the webhook's own       404   before anything else is read (the path of
                                             TELEGRAM_WEBHOOK_URL; a function URL takes any)
  wrong method                         405   not from Telegram
  secret token header missing or wrong 401   not from Telegram (or a stale secret: Telegram
                                             keeps the update and resends it once fixed)
  body over 1 MB (in bytes, plain or base64) / bad base64 / not JSON / not an update
  (no integer update_id)               413 / 400   Telegram never sends these
  an update we have seen before        200   acknowledged, not handled again
  an update kind we do not use         200   stored as ignored
  an update we handle                  200   stored, then handled; if handling fails the
                                             stored update is marked failed for
                                             `manage.py retry_updates`, and still 200

Every answer logs one line with its reason. A 5xx only comes from our side (the database or
the stage secret unavailable before the update could be stored), where Telegram's resending
is exactly what we want. No exception leaves this function.

Cold start matters (Telegram waits, and slows down for slow endpoints), so this module
imports only the standard library; Django is set up on the first request, and neither
python-telegram-bot nor boto3 is imported to answer an update. The webhook never reads the
bot token: replies go into the outbox, and handlers/sender.py sends them.
"""

from __future__ import annotations

import base64
import binascii
import gc
import hmac
import json
import logging
import os

from project.core import observability  # standard library only; metrics and log ids (C8)

logger = logging.getLogger("handlers.webhook")

# Telegram's largest updates (a 4096-character message quoting another, with entities and a
# keyboard) stay far below this; anything bigger is not from Telegram.
MAX_BODY_BYTES = 1_000_000
SECRET_HEADER = "x-telegram-bot-api-secret-token"

_django_ready = False


def _setup_django() -> None:
    global _django_ready
    if _django_ready:
        return
    from django.apps import apps

    if not apps.ready:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        # This function signs nobody in and serves no page: settings give it only the apps its
        # code uses (settings.WEBHOOK_APPS) and a URLconf without the admin and sign-in views.
        # Only when this process sets Django up: a process that already has (the tests, the
        # local gateway's parent) must not hand the webhook's role to the children it starts.
        os.environ.setdefault("FUNCTION_ROLE", "webhook")

        # Django's set-up makes some 80,000 objects that live as long as the process (modules,
        # classes, models), and the garbage collector would trace them again and again while
        # they are made: about a tenth of a cold start, for nothing to free. So it is off while
        # they are made, and they are frozen (kept out of every later collection) before it is
        # on again. A cycle made during set-up stays for the process's life, as its modules do.
        gc.disable()
        try:
            django.setup()
        finally:
            gc.freeze()
            gc.enable()
    _django_ready = True


def _answer(status_code: int, outcome: str, *, headers: dict | None = None, call: dict | None = None) -> dict:
    observability.outcome("Webhook", outcome)  # WebhookTotal and e.g. WebhookRejected
    # Webhook answers (contract C2): a Bot API call in a 200's body is executed by Telegram,
    # which ignores parameters a method does not take (so `outcome` stays for our logs/tests).
    body = {**call, "outcome": outcome} if call else {"ok": 200 <= status_code < 300, "outcome": outcome}
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body),
    }


def _headers(event: dict) -> dict[str, str]:
    """All request headers, lower-cased names (v1 may carry them only in multiValueHeaders)."""
    merged: dict[str, str] = {}
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict):
        for name, values in multi.items():
            if isinstance(name, str) and isinstance(values, list) and values:
                merged[name.lower()] = str(values[-1])
    single = event.get("headers")
    if isinstance(single, dict):
        for name, value in single.items():
            if isinstance(name, str) and value is not None:
                merged[name.lower()] = str(value)
    return merged


def _method(event: dict) -> str:
    method = event.get("httpMethod")  # REST API (v1)
    if not method:
        http = (event.get("requestContext") or {}).get("http") if isinstance(event.get("requestContext"), dict) else None
        method = http.get("method") if isinstance(http, dict) else None  # HTTP API v2 / function URL
    return method.upper() if isinstance(method, str) else ""


def _path(event: dict) -> str | None:
    """The request path: `rawPath` (HTTP API v2, function URLs), `path` (REST API v1)."""
    for path in (event.get("rawPath"), event.get("path")):
        if isinstance(path, str):
            return path
    http = event.get("requestContext", {}).get("http") if isinstance(event.get("requestContext"), dict) else None
    path = http.get("path") if isinstance(http, dict) else None
    return path if isinstance(path, str) else None


def _own_path() -> str:
    from urllib.parse import urlsplit

    from django.conf import settings

    return urlsplit(settings.TELEGRAM_WEBHOOK_URL).path or "/"


def _secret_matches(given: str | None) -> bool:
    from project.core.secrets import webhook_secrets

    if not given:
        return False
    given_bytes = given.encode("utf-8", "replace")
    matched = False
    # Compare against every accepted value (the previous one during a rotation) without
    # stopping early, so the time taken says nothing about which one was close.
    for secret in webhook_secrets():
        matched |= hmac.compare_digest(given_bytes, secret.encode("utf-8"))
    return matched


def _body(event: dict) -> bytes | str:
    """The raw body; raises _Reject (with the answer's status code) for what cannot be one."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _Reject(400, "body is not a string")
    if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise _Reject(413, f"body of {len(body)} characters is too large")
    if event.get("isBase64Encoded") is True:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _Reject(400, "body is not valid base64") from None
        size = len(raw)
    else:
        # The limit is in bytes as Telegram sent them (UTF-8), not characters: 4 MB of emoji
        # is only 1 M characters. Every character is at least one byte, so a longer text is
        # refused before it is encoded; json reads the text itself as it is.
        if len(body) > MAX_BODY_BYTES:
            raise _Reject(413, f"body of {len(body)} characters is too large")
        raw = body
        size = len(body.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise _Reject(413, f"body of {size} bytes is too large")
    return raw


class _Reject(Exception):
    def __init__(self, status_code: int, reason: str):
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def _handle(event) -> dict:
    if not isinstance(event, dict):
        raise _Reject(400, "the event is not an object")
    method = _method(event)
    if not method:
        raise _Reject(400, "not an API Gateway or function URL event")
    # A function URL (or an API mapping) hands every path to this function: only Telegram's
    # one is answered, before the secret or the body is looked at.
    path = _path(event)
    if path != _own_path():
        raise _Reject(404, f"path {(path or '')[:100]!r} is not the webhook's")
    if method != "POST":
        raise _Reject(405, f"method {method[:10]} is not allowed")
    headers = _headers(event)
    if SECRET_HEADER not in headers:
        raise _Reject(401, "secret token header missing")
    if not _secret_matches(headers[SECRET_HEADER]):
        raise _Reject(401, "secret token does not match")

    from project.bot.updates import NotAnUpdate, load_update

    raw = _body(event)
    try:
        data = load_update(raw)
    except NotAnUpdate as exc:
        raise _Reject(400, str(exc)) from None
    observability.bind(update_id=data["update_id"])

    from project.bot.flows.receive_update import receive_update

    result = receive_update(data)
    log = logger.warning if result.outcome == "failed" else logger.info
    log("webhook: update %s (%s) %s%s", result.update_id, result.kind or "?", result.outcome,
        f": {result.reason}" if result.reason else "")
    return _answer(200, result.outcome, call=result.answer)


@observability.entry_point
def handler(event, context=None) -> dict:
    """The Lambda entry point. Always returns an answer; never raises."""
    try:
        _setup_django()
    except Exception:
        logger.exception("webhook: Django could not be set up")
        return _answer(500, "unavailable")
    from django.db import close_old_connections, connection

    # A frozen container's connection may be gone (conn_health_checks checks it). Not inside
    # an open transaction (a test's): closing it would end that transaction.
    outside = not connection.in_atomic_block
    if outside:
        close_old_connections()
    try:
        return _handle(event)
    except _Reject as reject:
        logger.warning("webhook: rejected with %s: %s", reject.status_code, reject.reason)
        extra = {"Allow": "POST"} if reject.status_code == 405 else None
        return _answer(reject.status_code, "rejected", headers=extra)
    except Exception:
        # Only our side gets here (the database or the stage secret unavailable before the
        # update was stored): a 5xx makes Telegram keep the update and resend it.
        logger.exception("webhook: could not take the update")
        return _answer(500, "unavailable")
    finally:
        if outside:
            close_old_connections()
