"""
What the sender benchmarks run against: moto's server (the outbox queue and its dead-letter
queue), the Telegram sandbox in this process (Telegram's limits, strict), a migrated
database (a SQLite file, or a fresh PostgreSQL database), and sender processes
(tests/notifications/sender_worker.py) fed from the queue the way Lambda's event source
mapping feeds the function.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-m", "tests.notifications.sender_worker"]
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/sender_bench")


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}, load {load:.1f} at start"


def commit_latency(directory: Path) -> str:
    """What one small write transaction costs here: SQLite on the benchmark's file system and
    on disk, and PostgreSQL (each commit waits for its fsync)."""
    import sqlite3

    def timed(commit) -> str:
        times = []
        for i in range(30):
            start = time.perf_counter()
            commit(i)
            times.append(time.perf_counter() - start)
        times.sort()
        return f"p50 {1000 * times[15]:.1f} ms, max {1000 * times[-1]:.1f} ms"

    parts = []
    for label, folder in (("SQLite here", directory), ("SQLite on disk", Path(tempfile.gettempdir()))):
        path = folder / f"commit-probe-{os.getpid()}.sqlite3"
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v REAL)")
        db.execute("INSERT INTO t VALUES (1, 0)")
        parts.append(f"{label} {timed(lambda i: db.executescript(f'BEGIN IMMEDIATE; UPDATE t SET v = {i}; COMMIT;'))}")
        db.close()
        path.unlink()
    try:
        import psycopg

        base = PG_URL.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
            db.execute("CREATE TEMP TABLE t (k int PRIMARY KEY, v float)")
            db.execute("INSERT INTO t VALUES (1, 0)")

            def commit(i):
                with db.transaction():
                    db.execute("UPDATE t SET v = %s", (i,))

            # A temporary table is not WAL-logged: use a real one for the fsync.
            db.execute("CREATE TABLE IF NOT EXISTS sender_bench_probe (k int PRIMARY KEY, v float)")
            db.execute("INSERT INTO sender_bench_probe VALUES (1, 0) ON CONFLICT DO NOTHING")

            def durable(i):
                with db.transaction():
                    db.execute("UPDATE sender_bench_probe SET v = %s", (i,))

            parts.append(f"PostgreSQL {timed(durable)}")
            db.execute("DROP TABLE sender_bench_probe")
    except Exception as exc:  # no PostgreSQL here
        parts.append(f"PostgreSQL not measured ({type(exc).__name__})")
    return "; ".join(parts)


def fresh_postgres(url: str) -> str:
    """Drop and create the database named in `url` (the benchmark's own), return `url`."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    return url


class Stage:
    """moto's server with the outbox queue, the sandbox, and a migrated database."""

    def __init__(self, tmp: Path):
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
        # The SQLite file goes to memory (tmpfs) where there is one: on a shared VM the disk
        # takes tens of milliseconds per fsync, which would measure the disk, not the sender
        # (deployed stages use PostgreSQL; commit_latency() shows both).
        shm = Path("/dev/shm")
        self.db_dir = Path(tempfile.mkdtemp(prefix="sender-bench-", dir=shm)) if shm.is_dir() else tmp
        self.env_base = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "TELEGRAM_API_BASE_URL": self.sandbox.url,
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        }

    def sqs(self):
        import boto3

        return boto3.client("sqs", endpoint_url=self.endpoint, region_name="eu-central-1",
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    def fresh(self, name: str, *, database: str = "sqlite", visibility: int = 60, max_receives: int | None = None,
              settings: dict | None = None) -> dict:
        """A new queue (with a DLQ when `max_receives`), a migrated database, a reset sandbox;
        returns the environment for worker processes."""
        sqs = self.sqs()
        attributes = {"VisibilityTimeout": str(visibility)}
        dlq_url = ""
        if max_receives:
            dlq_url = sqs.create_queue(QueueName=f"outbox-bench-{name}-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
        queue_url = sqs.create_queue(QueueName=f"outbox-bench-{name}", Attributes=attributes)["QueueUrl"]
        if database == "postgres":
            url = fresh_postgres(PG_URL)
        else:
            url = f"sqlite:///{self.db_dir / f'{name}.sqlite3'}"
        env = {**self.env_base, "OUTBOX_QUEUE_URL": queue_url, "OUTBOX_DLQ_URL": dlq_url, "DATABASE_URL": url,
               "NOTIF_SETTINGS": json.dumps({"OUTBOX_DLQ_URL": dlq_url, **(settings or {})})}
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        self.sandbox.sandbox.reset()
        return env

    def worker(self, env: dict, *args: str, **popen) -> subprocess.Popen:
        return subprocess.Popen([*WORKER, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **popen)

    def run_worker(self, env: dict, *args: str):
        """Run a worker command to its end; its last output line, parsed."""
        done = subprocess.run([*WORKER, *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def stop(self):
        self.sandbox.stop()
        self.moto.terminate()
        self.moto.wait(timeout=10)
        if self.db_dir != self.tmp:
            shutil.rmtree(self.db_dir, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def read_traces(directory: Path) -> list[dict]:
    """Every worker's trace lines (a process killed mid-line leaves a partial last line)."""
    lines = []
    for path in sorted(directory.glob("*.jsonl")):
        pid = path.stem
        for line in path.read_text().splitlines():
            try:
                lines.append({**json.loads(line), "pid": pid})
            except ValueError:
                pass
    return lines


def window_parts(trace: list[dict]) -> tuple[list[float], list[float]]:
    """The crash window in two parts: from the answer until the sender's thread started
    recording it (it was busy, or waiting for the CPU), and the transaction itself."""
    answered: dict[tuple[str, int], float] = {}
    pickup, commit = [], []
    for row in sorted(trace, key=lambda r: r["t"]):
        key = (row["pid"], row.get("d"))
        if row["e"] == "answer":
            answered[key] = row["t"]
        elif row["e"] == "recorded" and key in answered and "started" in row:
            pickup.append(max(0.0, row["started"] - answered.pop(key)))
            commit.append(row["t"] - row["started"])
    return pickup, commit


def pickup_causes(trace: list[dict]) -> dict[str, list[float]]:
    """For each answer, how long until the sender's thread started recording it, split by
    what the thread was doing when the answer came: waiting for it (so the delay is the
    thread getting the CPU back) or busy with other work (which then came first)."""
    waits: dict[str, list[tuple[float, float]]] = {}
    for row in trace:
        if row["e"] == "wait":
            waits.setdefault(row["pid"], []).append((row["a"], row["t"]))
    for spans in waits.values():
        spans.sort()
    answered: dict[tuple[str, int], float] = {}
    causes: dict[str, list[float]] = {"waiting": [], "busy": []}
    import bisect

    for row in sorted(trace, key=lambda r: r["t"]):
        key = (row["pid"], row.get("d"))
        if row["e"] == "answer":
            answered[key] = row["t"]
        elif row["e"] == "recorded" and key in answered and "started" in row:
            at = answered.pop(key)
            spans = waits.get(row["pid"], [])
            i = bisect.bisect_right(spans, (at, float("inf"))) - 1
            inside = i >= 0 and spans[i][0] <= at <= spans[i][1]
            causes["waiting" if inside else "busy"].append(max(0.0, row["started"] - at))
    return causes


def crash_windows(trace: list[dict]) -> list[float]:
    """Seconds from a Bot API answer to its outcome's commit, for every call whose outcome
    was committed (per process, the answer and the commit of the same delivery's call)."""
    answered: dict[tuple[str, int], float] = {}
    windows = []
    for row in sorted(trace, key=lambda r: r["t"]):
        key = (row["pid"], row.get("d"))
        if row["e"] == "answer":
            answered[key] = row["t"]
        elif row["e"] == "recorded" and key in answered:
            windows.append(row["t"] - answered.pop(key))
    return windows
