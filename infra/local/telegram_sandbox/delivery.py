"""Webhook delivery, as Telegram does it: POST each pending update, in order, to the bot's
webhook with the secret header; keep an update until the webhook answers 2xx; retry
errors with exponential backoff; remember the last error for getWebhookInfo.

One thread per bot, delivering one update at a time. Telegram may use up to
``max_connections`` parallel requests; sequential delivery is a documented simplification
that keeps order deterministic for tests. The head update stays in ``bot.pending`` while it
is in flight, so ``pending_update_count`` counts it, as Telegram's does.

A 2xx answer may carry one Bot API call (``{"method": "answerCallbackQuery", ...}`` as JSON,
or a form body): like Telegram, the sandbox executes it for the bot whose webhook answered,
tells nobody the result, and records it with ``via="webhook"`` (the chat pages show it like
any other call). It runs before the update leaves the queue, so ``wait_for_delivery()``
returns only once it has.
"""

from __future__ import annotations

import json
import threading
import time
from urllib.parse import parse_qsl

import httpx

from .botapi import call_api
from .state import BotState, DeliveryAttempt, Sandbox


def webhook_answer(response: httpx.Response) -> tuple[str, dict] | None:
    """The Bot API call in a webhook's answer, if any: (method, parameters)."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            body = json.loads(response.content or b"null")
        elif kind == "application/x-www-form-urlencoded":
            body = dict(parse_qsl(response.text))
        else:
            return None
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("method"), str) or not body["method"]:
        return None
    params = {k: v for k, v in body.items() if k != "method"}
    return body["method"], params


def _error_message(exc: Exception) -> str:
    # Telegram's own wording for the common cases.
    if isinstance(exc, httpx.ConnectError):
        return "Connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "Read timeout expired"
    return f"Connection error: {type(exc).__name__}"


class WebhookDelivery:
    def __init__(self, sandbox: Sandbox):
        self.sb = sandbox
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for bot in self.sb.bots.values():
            t = threading.Thread(target=self._run, args=(bot,), daemon=True,
                                 name=f"telegram-sandbox-webhook-{bot.id}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        with self.sb.lock:
            self.sb.changed.notify_all()
        for t in self._threads:
            t.join(timeout=2)

    def _next(self, bot: BotState):
        """Wait (under the lock) until the bot has an update to deliver now."""
        sb = self.sb
        with sb.lock:
            while not self._stop.is_set():
                if bot.webhook.url and bot.pending:
                    wait = bot.next_attempt_at - time.monotonic()
                    if wait <= 0:
                        return bot.pending[0], bot.webhook.url, bot.webhook.secret_token
                    sb.changed.wait(min(wait, 1.0))
                else:
                    sb.changed.wait(1.0)
        return None

    def _run(self, bot: BotState) -> None:
        sb = self.sb
        with httpx.Client(timeout=sb.webhook_timeout, trust_env=False) as client:
            while not self._stop.is_set():
                job = self._next(bot)
                if job is None:
                    return
                update, url, secret = job
                headers = {"Content-Type": "application/json"}
                if secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = secret
                started = time.monotonic()
                status, error, answer = None, None, None
                try:
                    resp = client.post(url, content=json.dumps(update).encode(), headers=headers)
                    status = resp.status_code
                    if not 200 <= status <= 299:
                        error = f"Wrong response from the webhook: {status} {resp.reason_phrase}"
                    else:
                        answer = webhook_answer(resp)
                except httpx.HTTPError as exc:
                    error = _error_message(exc)
                except Exception as exc:  # never let the thread die
                    error = f"Connection error: {exc!r}"
                if answer is not None:
                    # Executed as Telegram does, result and errors unseen by the webhook; before
                    # the update leaves the queue, so wait_for_delivery() also waits for it.
                    call_api(sb, bot.config.token, answer[0], answer[1], via="webhook")
                with sb.lock:
                    sb._deliveries.append(DeliveryAttempt(
                        time=sb.now(), bot_id=bot.id, update_id=update.get("update_id"),
                        url=url, status_code=status, ok=error is None, error=error,
                        duration=time.monotonic() - started))
                    # A reset, drop_pending_updates or a re-delivered copy may have changed
                    # the queue meanwhile; only touch it if this update is still its head.
                    still_head = bool(bot.pending) and bot.pending[0] is update
                    if error is None:
                        if still_head:
                            bot.pending.popleft()
                        bot.failures = 0
                        bot.next_attempt_at = 0.0
                    elif still_head:
                        bot.failures += 1
                        bot.last_error_date = int(time.time())
                        bot.last_error_message = error
                        backoff = sb.webhook_retry_base * 2 ** (bot.failures - 1)
                        bot.next_attempt_at = time.monotonic() + min(backoff, sb.webhook_retry_max)
                    sb.changed.notify_all()
