"""doctor: the outbox queues, the sender's event source, and each function's own environment."""

from __future__ import annotations

import json
import logging

from django.conf import settings

from project.ops import conf

from .base import OK, PROBLEM, SKIPPED, Context, Report, client, error_text, zappa, zappa_upload

logger = logging.getLogger(__name__)


def _queue_attributes(url: str) -> dict:
    from project.core.aws import client

    return client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def check_queues(report: Report, ctx: Context) -> None:
    from project.notifications import conf as notifications_conf

    queue_url, dlq_url = settings.OUTBOX_QUEUE_URL, settings.OUTBOX_DLQ_URL
    if not queue_url:
        report.add("outbox queue", PROBLEM, f"OUTBOX_QUEUE_URL is not set, so nothing would be sent: run `python -m infra.stages settings {settings.STAGE}`.")
        return
    try:
        queue = _queue_attributes(queue_url)
    except Exception as exc:
        report.add("outbox queue", PROBLEM, f"Cannot read the outbox queue {queue_url}: {error_text(exc)}.")
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
            report.add("dead letters", PROBLEM, f"Cannot read the dead-letter queue {dlq_url}: {error_text(exc)}.")
            dlq = None
    else:
        dlq = None
        report.add("dead letters", PROBLEM, f"OUTBOX_DLQ_URL is not set: run `python -m infra.stages settings {settings.STAGE}`.")
    if not redrive:
        problems.append("it has no redrive policy, so a message that always fails is retried until it expires")
    else:
        if dlq_arn and redrive.get("deadLetterTargetArn") != dlq_arn:
            problems.append(f"its dead-letter queue is {redrive.get('deadLetterTargetArn')}, not OUTBOX_DLQ_URL's {dlq_arn}")
        override = notifications_conf.max_receive_count()
        count = int(redrive.get("maxReceiveCount", 0))
        ctx.max_receive_count = count
        if override and override != count:
            problems.append(
                f"its maxReceiveCount is {count}, but OUTBOX_MAX_RECEIVE_COUNT={override} tells the sender to give up "
                "on another receive; remove the override or make them equal"
            )
    timeout = ctx.sender_timeout
    if timeout and int(queue.get("VisibilityTimeout", 0)) < 6 * timeout:
        problems.append(f"its visibility timeout ({queue.get('VisibilityTimeout')} s) is under six times the sender's timeout ({timeout} s)")
    if problems:
        report.add("outbox queue", PROBLEM, "The outbox queue is misconfigured: " + "; ".join(problems)
                   + f": run `python -m infra.stages stack {settings.STAGE}` (the stack sets it) and remove overrides.")
    else:
        report.add("outbox queue", OK, f"{visible} messages waiting, {in_flight} being sent.")
    if dlq is not None:
        depth = int(dlq.get("ApproximateNumberOfMessages", 0)) + int(dlq.get("ApproximateNumberOfMessagesNotVisible", 0))
        if depth:
            report.add(
                "dead letters", PROBLEM,
                f"{depth} messages are in the dead-letter queue: the sender could not handle them. Find the cause in "
                f"the sender's logs ({zappa(f'tail {settings.STAGE}_sender')} --since 1d), then "
                f"{zappa(f'manage {settings.STAGE}_manage replay_dead_letters')} (\"replay_dead_letters --dry-run\" first).",
            )
        else:
            report.add("dead letters", OK, "The dead-letter queue is empty.")


def check_sender(report: Report, ctx: Context) -> None:
    from project.ops.flows import functions, sender_mapping

    fix = f"run `python -m infra.stages stack {settings.STAGE}` (the stack defines the sender's event source)"
    try:
        configuration = functions.get_configuration("sender")
    except Exception as exc:
        report.add("sender", SKIPPED, f"Cannot ask Lambda about {conf.function_name('sender')}: {error_text(exc)}.")
        return
    if configuration is None:
        report.add("sender", PROBLEM, f"There is no function {conf.function_name('sender')}: {zappa_upload('deploy', 'sender')}, then {fix}.")
        return
    ctx.sender_timeout = int(configuration.get("Timeout") or 0) or None
    try:
        mappings = sender_mapping.find_mappings()
    except Exception as exc:
        report.add("sender", PROBLEM, f"Cannot read the sender's event source mapping: {error_text(exc)}.")
        return
    if not mappings:
        report.add("sender", PROBLEM, f"Nothing feeds the outbox queue to {conf.function_name('sender')}: {fix}.")
        return
    if len(mappings) > 1:
        report.add("sender", PROBLEM, f"{len(mappings)} event source mappings feed the outbox to the sender (one is the stack's): delete the others (aws lambda delete-event-source-mapping --uuid ...).")
    mapping = mappings[0]
    problems = []
    if not mapping.enabled:
        problems.append("its event source mapping is disabled, so nothing is sent")
    if not mapping.reports_batch_item_failures:
        problems.append("ReportBatchItemFailures is off, so Lambda deletes the messages the sender meant to retry")
    if mapping.maximum_concurrency != int(settings.SENDER_MAX_CONCURRENCY):
        problems.append(
            f"MaximumConcurrency is {mapping.maximum_concurrency or 'unset'}, but the rate limiter is sized for "
            f"SENDER_MAX_CONCURRENCY={settings.SENDER_MAX_CONCURRENCY}"
        )
    if problems:
        report.add("sender", PROBLEM, "The sender's " + "; ".join(problems) + f": {fix}.")
    else:
        report.add("sender", OK, f"Fed by the outbox queue, {mapping.maximum_concurrency} at a time, reporting failed items.")


def check_functions(report: Report, ctx: Context) -> None:
    """Each function's actual environment (what Lambda runs with, not what the files say)."""
    from project.ops.flows import functions

    for kind in ("site", "webhook", "sender", "manage"):
        name = conf.function_name(kind)
        try:
            configuration = functions.get_configuration(kind)
        except Exception as exc:
            report.add("functions", SKIPPED, f"Cannot ask Lambda about {name}: {error_text(exc)}.")
            continue
        if configuration is None:
            report.add("functions", PROBLEM, f"There is no function {name}: {zappa_upload('deploy', kind)}.")
            continue
        env = (configuration.get("Environment") or {}).get("Variables") or {}
        redeploy = zappa_upload("update", kind)
        wrong = []
        if not env.get("OUTBOX_QUEUE_URL"):
            wrong.append("it has no OUTBOX_QUEUE_URL, so it enqueues nothing")
        elif settings.OUTBOX_QUEUE_URL and env["OUTBOX_QUEUE_URL"] != settings.OUTBOX_QUEUE_URL:
            wrong.append(f"its OUTBOX_QUEUE_URL is {env['OUTBOX_QUEUE_URL']}, not the stage's {settings.OUTBOX_QUEUE_URL}")
        if env.get("SECRETS_NAME") and env["SECRETS_NAME"] != settings.SECRETS_NAME:
            wrong.append(f"it reads the secret {env['SECRETS_NAME']}, not the stage's {settings.SECRETS_NAME}")
        override = env.get("OUTBOX_MAX_RECEIVE_COUNT")
        if override and ctx.max_receive_count and int(override) != ctx.max_receive_count:
            wrong.append(
                f"OUTBOX_MAX_RECEIVE_COUNT={override} overrides the queue's maxReceiveCount {ctx.max_receive_count}, so it "
                "gives up on another receive than the one that dead-letters"
            )
        concurrency = env.get("SENDER_MAX_CONCURRENCY")
        if kind == "sender" and concurrency and concurrency != str(settings.SENDER_MAX_CONCURRENCY):
            wrong.append(f"SENDER_MAX_CONCURRENCY={concurrency}, but the stage's is {settings.SENDER_MAX_CONCURRENCY}")
        if wrong:
            report.add("functions", PROBLEM, f"{name}: " + "; ".join(wrong) + f": remove the override and run {redeploy}.")
        else:
            report.add("functions", OK, f"{name} runs with the stage's queue and secret.")
