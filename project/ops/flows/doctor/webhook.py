"""doctor: the webhook as Telegram sees it (registration, deliveries) and as the stage answers it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from django.conf import settings

from project.ops import conf
from project.ops.flows import http as operator_http

from .base import OK, PROBLEM, SKIPPED, WARN, Context, Report, client, zappa

logger = logging.getLogger(__name__)

RECENT_ERROR = timedelta(hours=1)


def check_webhook(report: Report, ctx: Context) -> None:
    from project.bot.flows.webhook_setup import webhook_status
    from project.ops.flows import telegram_api

    if not ctx.token_ok:
        report.add("webhook", SKIPPED, "Skipped: the bot token is missing, foreign or refused by getMe.")
        return
    try:
        status = webhook_status()
    except Exception as exc:
        report.add("webhook", PROBLEM, f"getWebhookInfo failed: {telegram_api.describe_error(exc)}.")
        return
    wanted_url = settings.TELEGRAM_WEBHOOK_URL
    if not status.url:
        report.add("webhook", PROBLEM, f"No webhook is registered, so Telegram delivers nothing: run setup_webhook (for {wanted_url}).")
    elif status.url != wanted_url:
        report.add("webhook", PROBLEM, f"Telegram delivers to {status.url}, but this stage's webhook is {wanted_url}: run setup_webhook.")
    else:
        others = [d for d in status.differences if not d.startswith("url ") and "refused" not in d]
        if others:
            report.add("webhook", WARN, f"Registered at {status.url}, but " + "; ".join(others) + ": run setup_webhook.")
        else:
            report.add("webhook", OK, f"Registered at {status.url}.")

    message = status.last_error_message
    pending = status.pending_update_count
    changed = _last_change()
    error_date = status.last_error_date.astimezone(timezone.utc) if status.last_error_date else None
    recent = bool(error_date) and datetime.now(timezone.utc) - error_date < RECENT_ERROR
    # Telegram keeps every update it could not deliver, so with none pending no delivery is
    # failing now; and an error from before the last secret change or (re)registration was
    # about the state that change replaced. Either way the error is history, not a failure.
    ended = bool(error_date) and (pending == 0 or (changed is not None and error_date < changed))
    if message and not ended and ("401" in message or "403" in message) and (recent or pending):
        report.add(
            "webhook delivery", PROBLEM,
            f"Telegram's deliveries are refused ({message}); {pending} updates are waiting: the secret Telegram "
            "sends is not one the webhook accepts; run setup_webhook, which registers the stage's secret again.",
        )
    elif message and not ended and (recent or pending):
        report.add("webhook delivery", PROBLEM, f"Telegram's last delivery failed ({message}); {pending} updates are waiting: read the webhook function's logs ({zappa(f'tail {settings.STAGE}_webhook --since 1h')}).")
    elif pending > conf.pending_updates_warning():
        report.add("webhook delivery", WARN, f"{pending} updates are waiting at Telegram: the webhook may be slow; read its logs ({zappa(f'tail {settings.STAGE}_webhook --since 1h')}).")
    else:
        when = f" at {error_date:%Y-%m-%d %H:%M} UTC" if error_date else ""
        tail = f" (history: the last error, {message}{when}, ended before now)" if message else ""
        report.add("webhook delivery", OK, f"{pending} updates pending{tail}.")


def _last_change() -> datetime | None:
    """When the webhook's secret or registration last changed, as far as AWS can tell: the
    stage secret's last write (put_bot_token, rotate_webhook_secret) or the webhook function's
    last configuration change (a deploy, or a rotation's container refresh)."""
    from project.ops.flows import stage_secret

    dates = []
    try:
        described = client("secretsmanager").describe_secret(SecretId=stage_secret.secret_name(stage_secret.STAGE_SECRET))
        if described.get("LastChangedDate"):
            dates.append(described["LastChangedDate"])
    except Exception:
        pass
    try:
        from project.ops.flows import functions

        configuration = functions.get_configuration("webhook")
        if configuration and configuration.get("LastModified"):
            dates.append(datetime.strptime(configuration["LastModified"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc))
    except Exception:
        pass
    return max((d.astimezone(timezone.utc) for d in dates), default=None)


def check_webhook_secret(report: Report, ctx: Context) -> None:
    """Ask the webhook itself: it must refuse a wrong secret and accept the stage's."""
    import httpx

    secret = (ctx.secret or {}).get("telegram_webhook_secret")
    url = settings.TELEGRAM_WEBHOOK_URL
    if not secret:
        report.add("webhook secret", SKIPPED, "No webhook secret to probe with.")
        return
    header = "X-Telegram-Bot-Api-Secret-Token"
    # "{}" is not an update: past the secret check, the webhook answers 400 and stores nothing.
    body = {"content": b"{}", "headers": {"Content-Type": "application/json"}}
    try:
        with operator_http.client(timeout=conf.http_timeout()) as http:
            wrong = http.post(url, headers={**body["headers"], header: "doctor-wrong-secret"}, content=body["content"])
            right = http.post(url, headers={**body["headers"], header: secret}, content=body["content"])
    except httpx.HTTPError as exc:
        report.add("webhook secret", PROBLEM, f"Cannot reach the webhook at {url}: {type(exc).__name__}.")
        return
    if wrong.status_code not in (401, 403):
        report.add("webhook secret", PROBLEM, f"The webhook at {url} answered {wrong.status_code} to a wrong secret: it must refuse it (401).")
    elif right.status_code in (401, 403):
        report.add(
            "webhook secret", PROBLEM,
            f"The webhook at {url} refuses the stage's webhook secret ({right.status_code}): it reads another "
            "secret (SECRETS_NAME) or holds an old one; redeploy it or run rotate_webhook_secret --finish.",
        )
    elif right.status_code >= 500:
        report.add("webhook secret", PROBLEM, f"The webhook at {url} fails ({right.status_code}): it cannot read its secret or database; see its logs.")
    else:
        report.add("webhook secret", OK, f"The webhook at {url} refuses a wrong secret and accepts the stage's.")
