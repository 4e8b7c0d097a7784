"""
The local stand-in for Lambda's SQS event source mapping: long-polls the outbox queue (moto
in `make dev`, or any SQS endpoint) and hands each batch to handlers.sender.handler as an
SQS-shaped event, then deletes the messages that were not reported in batchItemFailures
(what ReportBatchItemFailures does). Reported messages are left alone: they come back when
their visibility timeout (which the sender may have set) runs out, and after the queue's
maxReceiveCount they go to the dead-letter queue, as on AWS.

    python -m infra.local.sqs_poller            # OUTBOX_QUEUE_URL, AWS_ENDPOINT_URL from the env
    python -m infra.local.sqs_poller --once     # one batch, then exit

Environment: DJANGO_SETTINGS_MODULE (default project.settings), OUTBOX_QUEUE_URL,
AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
(anything for moto), plus the stage's usual settings (DATABASE_URL, TELEGRAM_API_BASE_URL).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

logger = logging.getLogger("sqs_poller")


class LocalContext:
    """The part of Lambda's context object the sender reads: how long the invocation has left
    before the function's timeout (`timeout_seconds` of the sender in zappa_settings.json)."""

    def __init__(self, timeout_seconds: float = 60.0):
        self.deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def to_event(messages: list[dict], arn: str, region: str) -> dict:
    """SQS messages as received by boto3 -> the event Lambda passes to the function."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", ""),
                    "SenderId": m.get("Attributes", {}).get("SenderId", ""),
                    "ApproximateFirstReceiveTimestamp": m.get("Attributes", {}).get(
                        "ApproximateFirstReceiveTimestamp", ""
                    ),
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def receive_batch(sqs, queue_url: str, *, wait: int, batch_size: int, window: float) -> list[dict]:
    """Up to batch_size messages: like the event source mapping's BatchSize and
    MaximumBatchingWindowInSeconds (above ten, it keeps receiving until the window ends)."""
    messages: list[dict] = []
    deadline = time.monotonic() + window
    while len(messages) < batch_size:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
            WaitTimeSeconds=wait if not messages else 0, AttributeNames=["All"],
        )
        got = answer.get("Messages", [])
        messages.extend(got)
        if not messages or time.monotonic() >= deadline:
            break
        if not got:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return messages


def handle_batch(sqs, queue_url: str, arn: str, handler, messages: list[dict], *, region: str = "",
                 delete=None, context=None) -> int:
    """Run the handler on received messages and delete what succeeded; returns how many failed."""
    event = to_event(messages, arn, region)
    try:
        result = handler(event, context) or {}
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
    except Exception:
        # A raised exception fails the whole batch on Lambda: nothing is deleted.
        logger.exception("The sender raised; the whole batch of %d comes back.", len(messages))
        return len(messages)
    done = [m for m in messages if m["MessageId"] not in failed]
    (delete or delete_messages)(sqs, queue_url, done)
    return len(failed)


def delete_messages(sqs, queue_url: str, messages: list[dict]) -> None:
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
        )


def poll_once(sqs, queue_url: str, arn: str, handler, *, wait: int = 1, max_messages: int = 10, region: str = "",
              window: float = 0.0) -> tuple[int, int]:
    """Receive one batch, run the handler, delete what succeeded. Returns (received, failed)."""
    messages = receive_batch(sqs, queue_url, wait=wait, batch_size=max_messages, window=window)
    if not messages:
        return 0, 0
    return len(messages), handle_batch(sqs, queue_url, arn, handler, messages, region=region)


def run(queue_url: str, *, once: bool = False, wait: int = 1, idle_exit: float | None = None,
        batch_size: int = 10, window: float = 0.0, function_timeout: float = 60.0) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from handlers.sender import handler, _setup_django

    _setup_django()
    from django.conf import settings

    from project.core.aws import client

    sqs = client("sqs")
    arn = queue_arn(sqs, queue_url)
    region = getattr(settings, "AWS_REGION", "")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    logger.info("Polling %s for the sender.", queue_url)
    # Like the event source mapping, polling does not wait for the function: the next batch
    # is received, and the last one's messages deleted, while the handler works.
    from concurrent.futures import ThreadPoolExecutor

    receiver, deleter = ThreadPoolExecutor(1), ThreadPoolExecutor(1)

    def receive():
        return receive_batch(sqs, queue_url, wait=wait, batch_size=batch_size, window=window)

    def delete_later(sqs_, url, messages):
        deleter.submit(delete_messages, sqs_, url, messages)

    last_work = time.monotonic()
    upcoming = receiver.submit(receive)
    try:
        while not stopping:
            try:
                messages = upcoming.result()
            except Exception as exc:  # moto restarting, a network blip: keep polling
                logger.warning("Polling failed: %s", exc)
                time.sleep(1)
                messages = []
            if once and not messages:
                break
            upcoming = receiver.submit(receive) if not once else None
            if messages:
                failed = handle_batch(sqs, queue_url, arn, handler, messages, region=region, delete=delete_later,
                                      context=LocalContext(function_timeout))
                last_work = time.monotonic()
                logger.info("Batch of %d: %d returned to the queue.", len(messages), failed)
            if once or (idle_exit is not None and time.monotonic() - last_work > idle_exit):
                break
    finally:
        receiver.shutdown(wait=True, cancel_futures=True)
        deleter.shutdown(wait=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", default=os.environ.get("OUTBOX_QUEUE_URL", ""))
    parser.add_argument("--once", action="store_true", help="handle one batch and exit")
    parser.add_argument("--wait", type=int, default=1, help="long-poll seconds (1 keeps latency low)")
    parser.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")
    parser.add_argument("--batch-size", type=int, default=10, help="the event source's BatchSize")
    parser.add_argument("--batching-window", type=float, default=0.0,
                        help="the event source's MaximumBatchingWindowInSeconds (needed above 10)")
    parser.add_argument("--function-timeout", type=float, default=60.0,
                        help="the sender function's timeout_seconds (what the handler's context reports)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if not args.queue_url:
        parser.error("set OUTBOX_QUEUE_URL or pass --queue-url")
    run(args.queue_url, once=args.once, wait=args.wait, idle_exit=args.idle_exit,
        batch_size=args.batch_size, window=args.batching_window, function_timeout=args.function_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
