"""
A sender process for the tests that run several at once, and for the benchmarks.

    python -m tests.notifications.sender_worker run --idle-exit 1.5
    python -m tests.notifications.sender_worker run --chaos      # every message delivered twice
    python -m tests.notifications.sender_worker seed --chats 10 --per-chat 4 [--duplicate]
    python -m tests.notifications.sender_worker seed-notify --people 100 --per-person 5
    python -m tests.notifications.sender_worker report

Environment: DJANGO_SETTINGS_MODULE, DATABASE_URL (a file SQLite or PostgreSQL database that
all processes share), OUTBOX_QUEUE_URL, AWS_ENDPOINT_URL, TELEGRAM_API_BASE_URL,
NOTIF_SETTINGS: a JSON object of Django settings to override (rates, lease...), and
SENDER_TRACE_DIR: where each process appends what it did (one JSON object a line, flushed at
once, so a process killed mid-batch leaves its trace up to the kill): every SQS message it
sent, and for each Bot API call the moment the answer arrived and the moment its outcome
was committed (what the chaos benchmark counts duplicates and the crash window from).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time


def max_in_window(times: list[float], window: float) -> int:
    """The largest number of times in any half-open window of this length (the sandbox's rule)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings

    for name, value in json.loads(os.environ.get("NOTIF_SETTINGS", "{}")).items():
        setattr(settings, name, value)
    settings.OUTBOX_QUEUE_URL = os.environ.get("OUTBOX_QUEUE_URL", "")
    settings.TELEGRAM_API_BASE_URL = os.environ.get("TELEGRAM_API_BASE_URL", settings.TELEGRAM_API_BASE_URL)


class Trace:
    """Appends one JSON line per event to SENDER_TRACE_DIR/<pid>.jsonl (or does nothing)."""

    def __init__(self):
        directory = os.environ.get("SENDER_TRACE_DIR", "")
        self.file = open(os.path.join(directory, f"{os.getpid()}.jsonl"), "a", buffering=1) if directory else None

    def __call__(self, event: str, **fields) -> None:
        if self.file is not None:
            self.file.write(json.dumps({"e": event, "t": time.time(), **fields}) + "\n")

    def watch_sqs(self) -> None:
        """Note every message this process puts on the queue (the outbox, deferrals, fallbacks)."""
        if self.file is None:
            return
        from project.core.aws import client

        def sent(params, model, **_):
            if model.name == "SendMessage":
                self("sqs", body=params.get("MessageBody"), delay=params.get("DelaySeconds", 0))
            else:
                for entry in params.get("Entries", []):
                    self("sqs", body=entry.get("MessageBody"), delay=entry.get("DelaySeconds", 0))

        events = client("sqs").meta.events
        events.register("provide-client-params.sqs.SendMessage", sent)
        events.register("provide-client-params.sqs.SendMessageBatch", sent)


def seed(chats: int, per_chat: int, first_chat: int, duplicate: bool, order: str, enqueue: bool = True,
         method: str = "sendMessage") -> None:
    """Deliveries (send_telegram sendMessage) to `chats` chats, committed then enqueued.
    With --duplicate every delivery is enqueued twice (at-least-once delivery, sweeps)."""
    from django.db import transaction

    from project.notifications import outbox

    if not enqueue:  # the caller feeds the queue itself (the benchmark, in waves)
        from django.conf import settings

        settings.OUTBOX_QUEUE_URL = ""
    plan = [(first_chat + c, k) for k in range(per_chat) for c in range(chats)]
    if order == "by-chat":
        plan.sort()
    with transaction.atomic():
        payload = {"message_id": 1} if method.startswith("edit") else {}
        ids = [outbox.send_telegram(chat, method, {**payload, "text": f"message {k} to {chat}"}).pk for chat, k in plan]
    if duplicate:
        outbox.enqueue_now(ids)
    print(json.dumps(ids))


def seed_notify(people: int, per_person: int, first_chat: int) -> None:
    """People with Telegram and a verified email who want match requests on Telegram only
    (so a 403 falls back to email), and `per_person` notifications each, enqueued after
    each commit as the site does. Texts are "n<k> for <chat>"."""
    from allauth.account.models import EmailAddress
    from django.db import transaction

    from project.accounts.models import User
    from project.notifications import notify
    from project.notifications.flows import preferences
    from project.telegram_accounts.models import TelegramAccount

    users = []
    for n in range(people):
        chat = first_chat + n
        with transaction.atomic():
            user = User.objects.create(username=f"chaos{chat}", email=f"chaos{chat}@example.com")
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
            TelegramAccount.objects.create(user=user, telegram_id=chat, first_name=f"Chaos {chat}")
            preferences.save(user, enabled={("match_request_received", "telegram")}, everything_off=False)
        users.append((chat, user))
    count = 0
    for k in range(per_person):
        for start in range(0, len(users), 50):  # 50 notifications a transaction, like a busy site
            with transaction.atomic():
                for chat, user in users[start : start + 50]:
                    notify(user, "match_request_received", text=f"n{k} for {chat}")
                    count += 1
    print(json.dumps({"notifications": count}))


def report() -> None:
    """What the database says at the end: every delivery and notification, for the benchmark."""
    from project.notifications.models import Delivery

    rows = list(Delivery.objects.values_list("id", "notification__text", "channel", "status", "attempts",
                                             "last_error"))
    print(json.dumps(rows))


def receive_chaos(sqs, queue_url: str, batch_size: int, window: float) -> list[dict]:
    """Like the event source mapping (sqs_poller.receive_batch), with message attributes."""
    messages: list[dict] = []
    deadline = time.monotonic() + window
    while len(messages) < batch_size:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
            WaitTimeSeconds=1 if not messages else 0, AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        messages.extend(got)
        if not messages or time.monotonic() >= deadline:
            break
        if not got:
            time.sleep(0.05)
    return messages


def run_chaos(queue_url: str, idle_exit: float, batch_size: int, window: float, timeout: float) -> None:
    """The event source mapping with SQS's at-least-once delivery made certain: every message
    is handed to a sender twice (a copy goes back to the queue, for whichever sender comes
    first), including the messages the senders themselves send (deferrals, fallbacks)."""
    import boto3

    from handlers.sender import handler
    from infra.local import sqs_poller

    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                       region_name=os.environ.get("AWS_DEFAULT_REGION", "eu-central-1"))
    arn = sqs_poller.queue_arn(sqs, queue_url)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))  # finish the batch, then stop
    last_work = time.monotonic()
    while not stopping and time.monotonic() - last_work <= idle_exit:
        messages = receive_chaos(sqs, queue_url, batch_size, window)
        if not messages:
            continue
        for m in messages:
            if "copy" not in m.get("MessageAttributes", {}):
                sqs.send_message(QueueUrl=queue_url, MessageBody=m["Body"],
                                 MessageAttributes={"copy": {"DataType": "String", "StringValue": "1"}})
        sqs_poller.handle_batch(sqs, queue_url, arn, handler, messages, region="eu-central-1",
                                context=sqs_poller.LocalContext(timeout))
        last_work = time.monotonic()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--idle-exit", type=float, default=1.5)
    run.add_argument("--batch-size", type=int, default=10)
    run.add_argument("--batching-window", type=float, default=0.0)
    run.add_argument("--function-timeout", type=float, default=60.0)
    run.add_argument("--chaos", action="store_true", help="hand every message to a sender twice")
    s = sub.add_parser("seed")
    s.add_argument("--chats", type=int, required=True)
    s.add_argument("--per-chat", type=int, default=1)
    s.add_argument("--first-chat", type=int, default=900_001)
    s.add_argument("--duplicate", action="store_true")
    s.add_argument("--order", choices=["round-robin", "by-chat"], default="round-robin")
    s.add_argument("--no-enqueue", action="store_true")
    s.add_argument("--method", default="sendMessage")
    n = sub.add_parser("seed-notify")
    n.add_argument("--people", type=int, required=True)
    n.add_argument("--per-person", type=int, default=1)
    n.add_argument("--first-chat", type=int, default=800_001)
    sub.add_parser("report")
    args = parser.parse_args(argv)
    setup()
    trace = Trace()
    trace.watch_sqs()
    if args.command == "seed":
        seed(args.chats, args.per_chat, args.first_chat, args.duplicate, args.order, enqueue=not args.no_enqueue,
             method=args.method)
    elif args.command == "seed-notify":
        seed_notify(args.people, args.per_person, args.first_chat)
    elif args.command == "report":
        report()
    else:
        from infra.local.sqs_poller import run as run_poller
        from project.notifications.sending import sender

        sender().trace = trace
        sender().bot()  # the container's cold start, outside the measured CPU time
        cpu = time.process_time()
        if args.chaos:
            run_chaos(os.environ["OUTBOX_QUEUE_URL"], args.idle_exit, args.batch_size, args.batching_window,
                      args.function_timeout)
        else:
            run_poller(os.environ["OUTBOX_QUEUE_URL"], wait=1, idle_exit=args.idle_exit,
                       batch_size=args.batch_size, window=args.batching_window, function_timeout=args.function_timeout)
        cpu = time.process_time() - cpu
        stats = sender().stats_summary() if hasattr(sender(), "stats_summary") else dict(sender().stats)
        sender().close()  # waits for requests still in flight (a Lambda container would freeze)
        print(json.dumps({**stats, "cpu_seconds": cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
