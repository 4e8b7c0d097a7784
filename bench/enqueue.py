"""
(c) Enqueueing 1,000 notifications in one transaction against moto's server: SQS calls made
(goal: at most 100, i.e. SendMessageBatch with ten per call) and wall time.

Each notification goes to one channel (Telegram, the default for meetup_changed), so 1,000
notifications are 1,000 deliveries. Runs its Django work in a child process with its own
SQLite file, so it does not depend on what other benchmarks configured.

    python -m bench.enqueue [--notifications 1000] [--people 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(notifications: int, people: int) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    from project.accounts.models import User
    from project.core.aws import client
    from project.notifications import notify
    from project.notifications.models import Delivery
    from project.telegram_accounts.models import TelegramAccount

    sqs = client("sqs")
    settings.OUTBOX_QUEUE_URL = sqs.create_queue(QueueName="outbox-bench-enqueue")["QueueUrl"]
    users = [User.objects.create(username=f"bench{n}") for n in range(people)]
    for n, user in enumerate(users):
        TelegramAccount.objects.create(user=user, telegram_id=3_000_000 + n)
    calls: dict[str, int] = {}
    sqs.meta.events.register("before-call.sqs.*", lambda model, **_: calls.__setitem__(model.name, calls.get(model.name, 0) + 1))
    started = time.perf_counter()
    with transaction.atomic():
        for n in range(notifications):
            notify(users[n % people], "meetup_changed", text=f"Meetup {n} moved")
        committed_at = time.perf_counter()
    finished = time.perf_counter()
    made = dict(calls)
    queued = int(sqs.get_queue_attributes(QueueUrl=settings.OUTBOX_QUEUE_URL, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    return {
        "notifications": notifications,
        "deliveries": Delivery.objects.count(),
        "enqueued_at_set": Delivery.objects.filter(enqueued_at__isnull=False).count(),
        "messages_in_queue": queued,
        "sqs_calls": sum(made.values()),
        "calls_by_operation": made,
        "transaction_s": committed_at - started,
        "enqueue_after_commit_s": finished - committed_at,
        "total_s": finished - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    if args.child:
        print(json.dumps(child(args.notifications, args.people)))
        return 0
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": f"sqlite:///{tmp}/enqueue.sqlite3",
                   "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "eu-central-1", "LOG_LEVEL": "WARNING"}
            out = subprocess.run([sys.executable, "-m", "bench.enqueue", "--child", "--notifications", str(args.notifications),
                                  "--people", str(args.people)], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    finally:
        server.stop()
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"(c) enqueueing {r['notifications']} notifications ({r['deliveries']} deliveries) in one transaction, moto's server")
    print(f"{'SQS calls':>9} {'by operation':<28} {'in queue':>8} {'txn s':>6} {'enqueue s':>9} {'total s':>7}")
    ops = ", ".join(f"{k} {v}" for k, v in sorted(r["calls_by_operation"].items()))
    print(f"{r['sqs_calls']:>9} {ops:<28} {r['messages_in_queue']:>8} {r['transaction_s']:>6.2f} "
          f"{r['enqueue_after_commit_s']:>9.2f} {r['total_s']:>7.2f}")
    print(f"goal: at most 100 SQS calls -> {'met' if r['sqs_calls'] <= 100 else 'NOT met'}; "
          f"enqueued_at recorded on {r['enqueued_at_set']} deliveries")
    return 0 if r["sqs_calls"] <= 100 and r["messages_in_queue"] == r["deliveries"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
