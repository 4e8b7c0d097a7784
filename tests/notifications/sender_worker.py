"""
A sender process for the tests that run several at once (and for the benchmark).

    python -m tests.notifications.sender_worker run --idle-exit 1.5
    python -m tests.notifications.sender_worker seed --chats 10 --per-chat 4 [--duplicate]

Environment: DJANGO_SETTINGS_MODULE, DATABASE_URL (a file SQLite or PostgreSQL database that
all processes share), OUTBOX_QUEUE_URL, AWS_ENDPOINT_URL, TELEGRAM_API_BASE_URL, and
NOTIF_SETTINGS: a JSON object of Django settings to override (rates, lease...).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


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


def seed(chats: int, per_chat: int, first_chat: int, duplicate: bool, order: str, enqueue: bool = True) -> None:
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
        ids = [outbox.send_telegram(chat, "sendMessage", {"text": f"message {k} to {chat}"}).pk for chat, k in plan]
    if duplicate:
        outbox.enqueue_now(ids)
    print(json.dumps(ids))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--idle-exit", type=float, default=1.5)
    run.add_argument("--batch-size", type=int, default=10)
    run.add_argument("--batching-window", type=float, default=0.0)
    s = sub.add_parser("seed")
    s.add_argument("--chats", type=int, required=True)
    s.add_argument("--per-chat", type=int, default=1)
    s.add_argument("--first-chat", type=int, default=900_001)
    s.add_argument("--duplicate", action="store_true")
    s.add_argument("--order", choices=["round-robin", "by-chat"], default="round-robin")
    s.add_argument("--no-enqueue", action="store_true")
    args = parser.parse_args(argv)
    setup()
    if args.command == "seed":
        seed(args.chats, args.per_chat, args.first_chat, args.duplicate, args.order, enqueue=not args.no_enqueue)
    else:
        import time

        from infra.local.sqs_poller import run as run_poller
        from project.notifications.sending import sender

        sender().bot()  # the container's cold start, outside the measured CPU time
        cpu = time.process_time()
        run_poller(os.environ["OUTBOX_QUEUE_URL"], wait=1, idle_exit=args.idle_exit,
                   batch_size=args.batch_size, window=args.batching_window)
        print(json.dumps({**sender().stats, "cpu_seconds": time.process_time() - cpu}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
