"""
Checking a stage end to end and saying in plain words what is wrong (`manage.py doctor`).

Each check reads what the stage really has (the secret, Telegram's view of the bot and its
webhook, the queues, the sender's event source mapping, the site) and compares it with what
the stage's settings say it should be. A check that cannot run says why and is skipped;
the checks after it still run, so one run lists everything that needs fixing. Messages
name values that are safe to show (ids, URLs, counts) and never a secret.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from django.conf import settings

from project.ops import conf

logger = logging.getLogger(__name__)

OK, WARN, PROBLEM, SKIPPED = "ok", "warn", "problem", "skipped"
RECENT_ERROR = timedelta(hours=1)


@dataclass
class Finding:
    check: str
    level: str
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, level: str, message: str) -> None:
        self.findings.append(Finding(check, level, message))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]


@dataclass
class Context:
    """What earlier checks found that later ones need."""

    secret: dict[str, str] | None = None
    token_ok: bool = False
    sender_timeout: int | None = None


def _error(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


# --- the checks -------------------------------------------------------------------------------


def check_stage(report: Report, ctx: Context) -> None:
    if settings.STAGE not in ("dev", "prod"):
        report.add("stage", WARN, f"STAGE is {settings.STAGE!r}: checking a local stage, not a deployed one.")
    else:
        report.add("stage", OK, f"stage {settings.STAGE}, bot {settings.TELEGRAM_BOT_ID} (@{settings.TELEGRAM_BOT_USERNAME}), site {settings.SITE_DOMAIN}.")


def check_secret(report: Report, ctx: Context) -> None:
    """Both secrets: each exists, is readable and has the keys the stage needs, and the bot
    token is only in its own secret. Each message names the secret it is about."""
    from project.core import secrets
    from project.ops.flows import stage_secret

    if settings.SECRETS_BACKEND != "aws":
        report.add("secret", SKIPPED, f"SECRETS_BACKEND is {settings.SECRETS_BACKEND!r}: secrets come from the environment.")
        ctx.secret = {key: secrets.get_secret(key, required=False) for key in secrets.KEYS}
        return
    secrets.reset_cache()
    wanted = {
        "telegram_bot_token": "run put_bot_token",
        "telegram_webhook_secret": "run put_bot_token (it generates one)",
        "django_secret_key": "run put_bot_token (it generates one)",
    }
    if "oidc" in settings.TELEGRAM_LOGIN_FLOWS:
        wanted["telegram_oidc_client_secret"] = "run put_stage_secret telegram_oidc_client_secret (BotFather > Web Login)"
    if not conf.functions_have_database_url():
        # The functions' environment has no DATABASE_URL: settings.py reads it from here.
        wanted["database_url"] = "run put_stage_secret database_url (postgres://...?sslmode=require)"
    empty_fix = {
        stage_secret.STAGE_SECRET: "run put_bot_token (it generates the webhook secret and the Django key)",
        stage_secret.BOT_TOKEN_SECRET: "run put_bot_token",
    }
    values: dict[str, str] = {}
    healthy = True
    for setting, keys in secrets.SECRET_KEYS.items():
        label = f"{stage_secret.LABELS[setting]} {stage_secret.secret_name(setting)!r}"
        try:
            state = stage_secret.read(setting)
        except Exception as exc:
            report.add("secret", PROBLEM, f"Cannot read the {label}: {_error(exc)}.")
            healthy = False
            continue
        if not state.exists:
            report.add(
                "secret", PROBLEM,
                f"The {label} does not exist in {settings.AWS_REGION}: deploy the stack (it creates both secrets), "
                f"or fix {setting}.",
            )
            healthy = False
            continue
        if not state.has_value:
            report.add("secret", PROBLEM, f"The {label} is empty: {empty_fix[setting]}.")
            healthy = False
            continue
        # Only what belongs here counts: a token left in the stage secret is not the stage's token.
        values.update({key: value for key, value in state.values.items() if key in keys})
        missing = [f"{key} ({fix})" for key, fix in wanted.items() if key in keys and not state.values.get(key)]
        if missing:
            report.add("secret", PROBLEM, f"The {label} lacks " + "; ".join(missing) + ".")
            healthy = False
        if state.misplaced:
            report.add(
                "secret", PROBLEM,
                f"The {label} holds {', '.join(state.misplaced)}, which every function (the webhook too) can read "
                "there: run put_bot_token, which writes the token into the bot-token secret and removes it here.",
            )
            healthy = False
    ctx.secret = values
    if healthy:
        names = " and ".join(repr(stage_secret.secret_name(s)) for s in secrets.SECRET_KEYS)
        report.add("secret", OK, f"{names} are readable and have every key this stage needs.")
    if values.get("telegram_webhook_secret_previous"):
        report.add("secret", WARN, "A webhook secret rotation is unfinished (a previous secret is still accepted): run rotate_webhook_secret --finish.")


def check_token(report: Report, ctx: Context) -> None:
    from project.core.secrets import ForeignBotToken, check_bot_token

    token = (ctx.secret or {}).get("telegram_bot_token")
    if not token:
        report.add("bot token", SKIPPED, "No bot token to check.")
        return
    try:
        check_bot_token(token, settings.TELEGRAM_BOT_ID)
    except ForeignBotToken:
        found = token.split(":", 1)[0]
        report.add(
            "bot token", PROBLEM,
            f"The token in the stage secret is for bot {found if found.isdigit() else '(malformed)'}, but stage "
            f"{settings.STAGE} is configured for bot {settings.TELEGRAM_BOT_ID}. Put this stage's own token "
            "there with put_bot_token (every function refuses to run with it as it is).",
        )
        return
    report.add("bot token", OK, f"The token belongs to bot {settings.TELEGRAM_BOT_ID}.")
    ctx.token_ok = True


def check_get_me(report: Report, ctx: Context) -> None:
    from project.ops.flows import telegram_api

    if not ctx.token_ok:
        report.add("getMe", SKIPPED, "Skipped: the bot token is missing or foreign.")
        return

    async def get_me(bot):
        return bot.bot  # `async with bot` already called getMe (PTB's initialize)

    try:
        me = telegram_api.call(ctx.secret["telegram_bot_token"], get_me)
    except Exception as exc:
        report.add("getMe", PROBLEM, f"getMe failed: {telegram_api.describe_error(exc)}.")
        ctx.token_ok = False
        return
    wanted = (settings.TELEGRAM_BOT_USERNAME or "").lstrip("@").lower()
    if (me.username or "").lower() != wanted:
        report.add("getMe", PROBLEM, f"Telegram says the bot is @{me.username}, but TELEGRAM_BOT_USERNAME is @{wanted}: sign-in links will name the wrong bot.")
    else:
        report.add("getMe", OK, f"Telegram knows the token as @{me.username} ({me.id}).")


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
    recent = bool(status.last_error_date) and datetime.now(timezone.utc) - status.last_error_date.astimezone(timezone.utc) < RECENT_ERROR
    pending = status.pending_update_count
    if message and ("401" in message or "403" in message) and (recent or pending):
        report.add(
            "webhook delivery", PROBLEM,
            f"Telegram's deliveries are refused ({message}); {pending} updates are waiting. The secret Telegram "
            "sends is not one the webhook accepts: run setup_webhook, which registers the stage's secret again.",
        )
    elif message and (recent or pending):
        report.add("webhook delivery", PROBLEM, f"Telegram's last delivery failed ({message}); {pending} updates are waiting. Check the webhook function's logs.")
    elif pending > conf.pending_updates_warning():
        report.add("webhook delivery", WARN, f"{pending} updates are waiting at Telegram; the webhook may be slow.")
    else:
        tail = f" (the last error, {message}, is older than an hour)" if message else ""
        report.add("webhook delivery", OK, f"{pending} updates pending{tail}.")


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
        with httpx.Client(timeout=conf.http_timeout(), trust_env=False) as http:
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


def _queue_attributes(url: str) -> dict:
    from project.core.aws import client

    return client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def check_queues(report: Report, ctx: Context) -> None:
    from project.notifications import conf as notifications_conf

    queue_url, dlq_url = settings.OUTBOX_QUEUE_URL, settings.OUTBOX_DLQ_URL
    if not queue_url:
        report.add("outbox queue", PROBLEM, "OUTBOX_QUEUE_URL is not set: nothing would be sent.")
        return
    try:
        queue = _queue_attributes(queue_url)
    except Exception as exc:
        report.add("outbox queue", PROBLEM, f"Cannot read the outbox queue {queue_url}: {_error(exc)}.")
        return
    visible = int(queue.get("ApproximateNumberOfMessages", 0))
    in_flight = int(queue.get("ApproximateNumberOfMessagesNotVisible", 0))
    problems = []
    redrive = json.loads(queue.get("RedrivePolicy") or "{}")
    dlq_arn = None
    if dlq_url:
        try:
            dlq = _queue_attributes(dlq_url)
            dlq_arn = dlq.get("QueueArn")
        except Exception as exc:
            report.add("dead letters", PROBLEM, f"Cannot read the dead-letter queue {dlq_url}: {_error(exc)}.")
            dlq = None
    else:
        dlq = None
        report.add("dead letters", PROBLEM, "OUTBOX_DLQ_URL is not set.")
    if not redrive:
        problems.append("it has no redrive policy, so a message that always fails is retried until it expires")
    else:
        if dlq_arn and redrive.get("deadLetterTargetArn") != dlq_arn:
            problems.append(f"its dead-letter queue is {redrive.get('deadLetterTargetArn')}, not OUTBOX_DLQ_URL's {dlq_arn}")
        override = notifications_conf.max_receive_count()
        count = int(redrive.get("maxReceiveCount", 0))
        if override and override != count:
            problems.append(
                f"its maxReceiveCount is {count}, but OUTBOX_MAX_RECEIVE_COUNT={override} tells the sender to give up "
                "on another receive; remove the override or make them equal"
            )
    timeout = ctx.sender_timeout
    if timeout and int(queue.get("VisibilityTimeout", 0)) < 6 * timeout:
        problems.append(f"its visibility timeout ({queue.get('VisibilityTimeout')} s) is under six times the sender's timeout ({timeout} s)")
    if problems:
        report.add("outbox queue", PROBLEM, "The outbox queue is misconfigured: " + "; ".join(problems) + ".")
    else:
        report.add("outbox queue", OK, f"{visible} messages waiting, {in_flight} being sent.")
    if dlq is not None:
        depth = int(dlq.get("ApproximateNumberOfMessages", 0)) + int(dlq.get("ApproximateNumberOfMessagesNotVisible", 0))
        if depth:
            report.add(
                "dead letters", PROBLEM,
                f"{depth} messages are in the dead-letter queue: the sender could not handle them. Find the cause in "
                "the sender's logs, then run replay_dead_letters.",
            )
        else:
            report.add("dead letters", OK, "The dead-letter queue is empty.")


def check_sender(report: Report, ctx: Context) -> None:
    from project.ops.flows import functions, sender_mapping

    try:
        configuration = functions.get_configuration("sender")
    except Exception as exc:
        report.add("sender", SKIPPED, f"Cannot ask Lambda about {conf.function_name('sender')}: {_error(exc)}.")
        return
    if configuration is None:
        report.add("sender", PROBLEM, f"There is no function {conf.function_name('sender')}: zappa deploy {settings.STAGE}_sender.")
        return
    ctx.sender_timeout = int(configuration.get("Timeout") or 0) or None
    try:
        mapping = sender_mapping.find_mapping()
    except Exception as exc:
        report.add("sender", PROBLEM, f"Cannot read the sender's event source mapping: {_error(exc)}.")
        return
    if mapping is None:
        report.add("sender", PROBLEM, f"Nothing feeds the outbox queue to {conf.function_name('sender')}: zappa update {settings.STAGE}_sender, then configure_sender.")
        return
    problems = []
    if not mapping.enabled:
        problems.append("its event source mapping is disabled, so nothing is sent (normal right after zappa deploy/update)")
    if not mapping.reports_batch_item_failures:
        problems.append("ReportBatchItemFailures is off, so Lambda deletes the messages the sender meant to retry")
    if mapping.maximum_concurrency != int(settings.SENDER_MAX_CONCURRENCY):
        problems.append(
            f"MaximumConcurrency is {mapping.maximum_concurrency or 'unset'}, but the rate limiter is sized for "
            f"SENDER_MAX_CONCURRENCY={settings.SENDER_MAX_CONCURRENCY}"
        )
    if problems:
        report.add("sender", PROBLEM, "The sender " + "; ".join(problems) + ". Run configure_sender.")
    else:
        report.add("sender", OK, f"Fed by the outbox queue, {mapping.maximum_concurrency} at a time, reporting failed items.")


def check_site(report: Report, ctx: Context) -> None:
    import httpx
    from django.contrib.sites.models import Site
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError

    domain = settings.SITE_DOMAIN
    try:
        site = Site.objects.filter(id=settings.SITE_ID).first()
    except (DatabaseError, ImproperlyConfigured) as exc:
        report.add(
            "site domain", SKIPPED,
            f"No database from here ({type(exc).__name__}); Site record not checked. Set DATABASE_URL, or run "
            f"`zappa manage {settings.STAGE}_site ensure_site`.",
        )
        site = False
    if site is None:
        report.add("site domain", PROBLEM, f"There is no Site record {settings.SITE_ID}: run `zappa manage {settings.STAGE}_site ensure_site`.")
    elif site and site.domain != domain:
        report.add("site domain", PROBLEM, f"The Site record says {site.domain}, but SITE_DOMAIN is {domain}: emails and sign-in links would point there. Run `zappa manage {settings.STAGE}_site ensure_site`.")
    elif site:
        report.add("site domain", OK, f"The Site record is {domain}.")
    url = f"{getattr(settings, 'SITE_URL', 'https://' + domain)}/"
    try:
        with httpx.Client(timeout=conf.http_timeout(), trust_env=False, follow_redirects=False) as http:
            answer = http.get(url)
    except httpx.HTTPError as exc:
        report.add("site", PROBLEM, f"Cannot reach {url}: {type(exc).__name__} (DNS, certificate or custom domain mapping).")
        return
    if answer.status_code != 200:
        where = f" to {answer.headers.get('location')}" if answer.is_redirect else ""
        report.add("site", PROBLEM, f"{url} answered {answer.status_code}{where}, not 200.")
    else:
        report.add("site", OK, f"{url} answers 200.")


CHECKS: dict[str, Callable[[Report, Context], None]] = {
    "stage": check_stage,
    "secret": check_secret,
    "token": check_token,
    "getme": check_get_me,
    "webhook": check_webhook,
    "webhook-secret": check_webhook_secret,
    "sender": check_sender,  # before the queues: they compare with its timeout
    "queues": check_queues,
    "site": check_site,
}


def run_doctor(*, skip: tuple[str, ...] | list[str] = ()) -> Report:
    report, ctx = Report(), Context()
    for name, check in CHECKS.items():
        if name in skip:
            continue
        try:
            check(report, ctx)
        except Exception as exc:  # one broken check must not hide the others
            logger.exception("doctor check %s failed", name)
            report.add(name, PROBLEM, f"The check itself failed: {_error(exc)}.")
    return report
