"""
The sender against the Telegram sandbox enforcing Telegram's real limits.

(a) 2,000 Telegram deliveries to 500 chats through handlers/sender.py (fed by the local
    SQS poller from moto's server, sharing one SQLite file database): sustained messages
    per second, 429s received, the highest rate to any one chat; with 1 sender process and
    then with 4 at once.
(b) The naive pattern on the same kind of work (a new Bot and asyncio.run per message,
    sequential, waiting out each 429), as a ratio to ours.
(d) CPU time per delivery in the sender processes (after their cold start).

    python -m bench.sender_throughput [--deliveries 2000] [--chats 500] [--naive 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.notifications.sender_worker import max_in_window

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-m", "tests.notifications.sender_worker"]


class Stage:
    """moto's server with the outbox queue, the sandbox, and a migrated SQLite file."""

    def __init__(self, tmp: Path):
        import socket

        from infra.local.telegram_sandbox.testing import start_sandbox

        # moto in its own process: in this one it would compete for the GIL with the
        # sandbox, whose arrival times (what the limits are checked on) would then bunch up.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        self.sandbox = start_sandbox()
        self.tmp = tmp
        self.env_base = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "TELEGRAM_API_BASE_URL": self.sandbox.url,
            "LOG_LEVEL": "WARNING",
        }

    def fresh(self, name: str, chats: int, first_chat: int) -> dict:
        import boto3

        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name="eu-central-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        queue_url = sqs.create_queue(QueueName=f"outbox-bench-{name}", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        db = self.tmp / f"{name}.sqlite3"
        env = {**self.env_base, "OUTBOX_QUEUE_URL": queue_url, "DATABASE_URL": f"sqlite:///{db}"}
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        self.sandbox.sandbox.reset()
        for chat in range(first_chat, first_chat + chats):
            self.sandbox.add_user(chat, first_name=f"Chat {chat}")
        return env

    def stop(self):
        self.sandbox.stop()
        self.moto.terminate()
        self.moto.wait(timeout=10)


def run_senders(stage: Stage, name: str, deliveries: int, chats: int, processes: int, batch_size: int = 200) -> dict:
    first_chat = 1_000_001
    env = stage.fresh(name, chats, first_chat)
    per_chat = max(1, deliveries // chats)
    seeded = subprocess.run([*WORKER, "seed", "--chats", str(chats), "--per-chat", str(per_chat), "--first-chat",
                             str(first_chat), "--no-enqueue"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    ids = json.loads(seeded.stdout.strip().splitlines()[-1])
    # moto's ReceiveMessage costs O(queue depth) (1.2 s per call with 2,000 queued, 0.17 s
    # with 300, measured here), which would make moto the bottleneck rather than the
    # sender. So the committed deliveries are fed to the queue in waves, keeping ~300 queued.
    import threading

    import boto3

    sqs = boto3.client("sqs", endpoint_url=stage.endpoint, region_name="eu-central-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    queue_url = env["OUTBOX_QUEUE_URL"]

    def feed(upto: int) -> None:
        while ids and upto > 0:
            chunk = [ids.pop(0) for _ in range(min(10, len(ids)))]
            sqs.send_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"v": 1, "delivery_id": i})} for n, i in enumerate(chunk)])
            upto -= len(chunk)

    def feeder() -> None:
        while ids:
            depth = int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
                        ["Attributes"]["ApproximateNumberOfMessages"])
            if depth < 300:
                feed(300 - depth)
            time.sleep(0.3)

    feed(300)
    feeding = threading.Thread(target=feeder, daemon=True)
    feeding.start()
    # As the event source mapping would be configured (docs/OUTBOX.md): a large BatchSize
    # with a batching window.
    procs = [subprocess.Popen([*WORKER, "run", "--idle-exit", "3", "--batch-size", str(batch_size),
                               "--batching-window", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    outs = [p.communicate(timeout=900) for p in procs]
    feeding.join(timeout=5)
    stats = []
    for p, (out, err) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError(f"a sender failed: {err[-1500:]}")
        stats.append(json.loads(out.strip().splitlines()[-1]))
    delivered = stage.sandbox.delivered()
    times = [r.time for r in delivered]
    span = max(times) - min(times) if len(times) > 1 else float("nan")
    by_chat: dict[int, list[float]] = {}
    for r in delivered:
        by_chat.setdefault(r.chat_id, []).append(r.time)
    gaps = [b - a for ts in by_chat.values() for a, b in zip(sorted(ts), sorted(ts)[1:])]
    sent = sum(s["sent"] for s in stats)
    return {
        "processes": processes,
        "delivered": len(delivered),
        "rate": (len(delivered) - 1) / span if span == span and span > 0 else 0.0,
        "429s": len(stage.sandbox.refused()),
        "max_1s_global": max_in_window(times, 1.0),
        "max_chat_3s": max(max_in_window(ts, 3.0) for ts in by_chat.values()),
        "min_chat_gap": min(gaps) if gaps else float("nan"),
        "cpu_ms_per_delivery": 1000 * sum(s["cpu_seconds"] for s in stats) / max(1, sent),
        "late": sum(s.get("late", 0) for s in stats),
    }


def run_naive(stage: Stage, deliveries: int, chats: int) -> dict:
    """A new Bot and asyncio.run per message, one after the other, waiting out each 429."""
    import telegram
    from telegram import error

    first_chat = 2_000_001
    stage.sandbox.sandbox.reset()
    for chat in range(first_chat, first_chat + chats):
        stage.sandbox.add_user(chat)
    token = stage.sandbox.sandbox.bot_configs[0].token
    base_url = f"{stage.sandbox.url}/bot"

    async def send_once(chat_id: int, text: str):
        async with telegram.Bot(token, base_url=base_url) as bot:
            await bot.send_message(chat_id, text)

    started = time.perf_counter()
    cpu = time.process_time()
    refused = 0
    for n in range(deliveries):
        chat = first_chat + n % chats
        while True:
            try:
                asyncio.run(send_once(chat, f"naive {n}"))
                break
            except error.RetryAfter as exc:
                refused += 1
                wait = exc.retry_after
                time.sleep(wait.total_seconds() if hasattr(wait, "total_seconds") else wait)
    elapsed = time.perf_counter() - started
    return {"delivered": deliveries, "rate": deliveries / elapsed, "429s": refused,
            "cpu_ms_per_delivery": 1000 * (time.process_time() - cpu) / deliveries}


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--naive", type=int, default=300, help="deliveries for the naive pattern")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory() as tmp:
        stage = Stage(Path(tmp))
        try:
            rows = [run_senders(stage, "one", args.deliveries, args.chats, 1),
                    run_senders(stage, "four", args.deliveries, args.chats, 4)]
            naive = run_naive(stage, args.naive, args.chats)
        finally:
            stage.stop()
    print(f"(a) {args.deliveries} Telegram deliveries to {args.chats} chats; sandbox limits 30/s, 3 per 3 s per chat")
    print(f"{'senders':>8} {'delivered':>9} {'msg/s':>7} {'429s':>5} {'max in 1 s':>10} {'max/chat in 3 s':>15} {'min chat gap s':>14} {'CPU ms/delivery':>15} {'late re-slots':>13}")
    for r in rows:
        print(f"{r['processes']:>8} {r['delivered']:>9} {r['rate']:>7.2f} {r['429s']:>5} {r['max_1s_global']:>10} "
              f"{r['max_chat_3s']:>15} {r['min_chat_gap']:>14.2f} {r['cpu_ms_per_delivery']:>15.2f} {r['late']:>13}")
    print(f"\n(b) naive pattern (new Bot + asyncio.run per message, sequential), {naive['delivered']} deliveries")
    print(f"{'pattern':>8} {'msg/s':>7} {'429s':>5} {'CPU ms/delivery':>15}")
    print(f"{'naive':>8} {naive['rate']:>7.2f} {naive['429s']:>5} {naive['cpu_ms_per_delivery']:>15.2f}")
    print(f"{'ours':>8} {rows[0]['rate']:>7.2f} {rows[0]['429s']:>5} {rows[0]['cpu_ms_per_delivery']:>15.2f}")
    print(f"ours / naive throughput: {rows[0]['rate'] / naive['rate']:.1f}x")
    print("\n(d) CPU per delivery is the sender processes' CPU time after their cold start, divided by deliveries sent.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
