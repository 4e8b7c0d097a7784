"""
The sender under chaos (issue 15): notifications through several sender processes against
the sandbox enforcing Telegram's limits, with

* random faults: 5xx answers and hanging requests (carried out after the hang, as Telegram
  does, so a client that gave up sees a duplicate: the documented timeout window);
* every SQS message handed to a sender twice (a copy goes back to the queue), including the
  messages the senders send themselves (deferrals, fallbacks);
* blocked people (some from the start, some blocked mid-run): a 403, then email;
* sender processes killed (SIGKILL) mid-batch and replaced.

No sweep runs: everything must be found again through its own message. Printed per database:
lost, duplicates inside and outside the crash window, stuck, dead-lettered, and the crash
window's p50/p99/max (Bot API answer -> outcome committed, from the processes' traces).

    python -m bench.sender_chaos [--databases sqlite,postgres] [--people 200] [--per-person 5]
                                 [--senders 4] [--kills 8] [--limit 240]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.sender_stage import Stage, crash_windows, machine, percentile, pickup_causes, read_traces, window_parts

FIRST_CHAT = 800_001
TEXT = re.compile(r"n\d for 8\d{5}")


def chaos_run(stage: Stage, database: str, args) -> dict:
    from infra.local.telegram_sandbox import faults

    import os

    tmp = Path(os.environ["KEEP_TRACE"]) / database if os.environ.get("KEEP_TRACE") else stage.tmp / f"chaos-{database}"
    (tmp / "trace").mkdir(parents=True)
    (tmp / "mail").mkdir()
    # A lease shorter than the queue's visibility timeout, as deployed (120 s and 360 s),
    # scaled down so that a killed sender's messages come back within the run.
    settings = {
        "NOTIFICATIONS_CLAIM_LEASE": 25, "NOTIFICATIONS_SEND_TIMEOUT": 4,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(tmp / "mail"),
    }
    env = stage.fresh(f"chaos-{database}", database=database, visibility=30, max_receives=8, settings=settings)
    env["SENDER_TRACE_DIR"] = str(tmp / "trace")
    rng = random.Random(args.seed)
    people = [FIRST_CHAT + n for n in range(args.people)]
    for chat in people:
        stage.sandbox.add_user(chat, first_name=f"Chaos {chat}")
    blocked_now = set(rng.sample(people, max(1, args.people // 20)))
    blocked_later = set(rng.sample(sorted(set(people) - blocked_now), max(1, args.people // 20)))
    for chat in blocked_now:
        stage.sandbox.block(chat)
    seeded = stage.run_worker(env, "seed-notify", "--people", str(args.people), "--per-person", str(args.per_person),
                              "--first-chat", str(FIRST_CHAT))
    faults.install(stage.sandbox, faults.FaultPlan(error_rate=args.error_rate, hang_rate=args.hang_rate,
                                                   hang_seconds=6.0, seed=args.seed))
    run_args = ["run", "--chaos", "--idle-exit", "600", "--batch-size", "50", "--batching-window", "1",
                "--function-timeout", "30"]
    senders = [stage.worker(env, *run_args) for _ in range(args.senders)]
    started = time.monotonic()
    kills, next_kill = 0, started + rng.uniform(3, 8)
    blocked_mid = False
    outcome = "bounded"
    while time.monotonic() - started < args.limit:
        time.sleep(0.5)
        now = time.monotonic()
        if not blocked_mid and now - started > 6:
            for chat in blocked_later:
                stage.sandbox.block(chat)
            blocked_mid = True
        if kills < args.kills and now >= next_kill:
            victim = rng.randrange(len(senders))
            senders[victim].send_signal(signal.SIGKILL)
            senders[victim].communicate()
            senders[victim] = stage.worker(env, *run_args)
            kills += 1
            next_kill = now + rng.uniform(2, 6)
        if kills >= args.kills and now - started > 20 and int(now) % 5 == 0:
            rows = stage.run_worker(env, "report")
            if all(row[3] not in ("queued", "sending") for row in rows):
                outcome = "drained"
                break
    for process in senders:
        process.send_signal(signal.SIGTERM)
    for process in senders:
        try:
            process.communicate(timeout=30)
        except Exception:
            process.kill()
            process.communicate()
    elapsed = time.monotonic() - started
    injected = faults.clear(stage.sandbox)
    rows = stage.run_worker(env, "report")
    expected = {f"n{k} for {chat}" for chat in people for k in range(args.per_person)}
    assert len(expected) == seeded["notifications"]
    return summarize(stage, env, tmp, rows, expected, kills, injected, elapsed, outcome, blocked_now | blocked_later)


def summarize(stage, env, tmp, rows, expected: set[str], kills, injected, elapsed, outcome, blocked) -> dict:
    """rows: (delivery id, notification text, channel, status, attempts, last error) per delivery."""
    # The texts are rendered into messages and emails: find "n<k> for <chat>" in them.
    arrivals: dict[str, list[float]] = {}
    for r in stage.sandbox.delivered():
        found = TEXT.search(str(r.params.get("text", "")))
        arrivals.setdefault(found.group(0) if found else "", []).append(r.time)
    mails = Counter()
    for path in (tmp / "mail").glob("*"):
        # Django's file backend appends each message to its file, then a line of 79 dashes.
        for message in path.read_text(errors="replace").split("-" * 79):
            found = TEXT.search(message)
            if found:
                mails[found.group(0)] += 1
    trace = read_traces(tmp / "trace")
    sent_recorded: dict[int, float] = {}
    for row in trace:
        if row["e"] == "recorded" and row.get("s") == "sent":
            sent_recorded.setdefault(row["d"], row["t"])
    telegram_delivery = {text: delivery_id for delivery_id, text, channel, *_ in rows if channel == "telegram"}
    assert set(arrivals) <= expected | {""}, sorted(set(arrivals) - expected)[:5]
    duplicates_in = duplicates_out = 0
    for text, times in arrivals.items():
        if len(times) < 2:
            continue
        recorded_at = sent_recorded.get(telegram_delivery.get(text))
        # Outside the window: the sender had committed "sent" and the message went again.
        if recorded_at is not None and recorded_at < sorted(times)[1]:
            duplicates_out += 1
        else:
            duplicates_in += 1
    lost = sum(1 for text in expected if text not in arrivals and text not in mails)
    stuck = sum(1 for r in rows if r[3] in ("queued", "sending"))
    dead = int(stage.sqs().get_queue_attributes(QueueUrl=env["OUTBOX_DLQ_URL"], AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    windows = crash_windows(trace)
    pickup, commit = window_parts(trace)
    causes = pickup_causes(trace)
    enqueued = Counter(json.loads(r["body"])["delivery_id"] for r in trace if r["e"] == "sqs" and r.get("body"))
    fallback_ids = {r[0] for r in rows if r[2] == "email"}
    return {
        "notifications": len(expected), "elapsed": elapsed, "outcome": outcome, "kills": kills,
        "errors": injected["errors"], "hangs": injected["hangs"], "blocked": len(blocked),
        "telegram": sum(len(t) for t in arrivals.values()), "emails": sum(mails.values()),
        "lost": lost, "dup_in": duplicates_in, "dup_out": duplicates_out,
        "dup_mails": sum(1 for c in mails.values() if c > 1), "stuck": stuck, "dead": dead,
        "fallbacks": len(fallback_ids),
        "fallbacks_enqueued_twice": sum(1 for i in fallback_ids if enqueued.get(i, 0) > 1),
        "429s": len(stage.sandbox.refused()),
        "window_p50_ms": 1000 * percentile(windows, 50), "window_p99_ms": 1000 * percentile(windows, 99),
        "window_max_ms": 1000 * (max(windows) if windows else float("nan")), "windows": len(windows),
        "pickup_p99_ms": 1000 * percentile(pickup, 99), "commit_p99_ms": 1000 * percentile(commit, 99),
        "pickup_max_ms": 1000 * (max(pickup) if pickup else float("nan")),
        "pickup_causes": {cause: (len(values), 1000 * percentile(values, 99), 1000 * (max(values) if values else 0))
                          for cause, values in causes.items()},
        "commit_max_ms": 1000 * (max(commit) if commit else float("nan")),
        "statuses": dict(Counter(r[3] for r in rows)),
        "stuck_why": dict(Counter(f"{r[2]} {r[3]} {r[4]} tries: {(r[5] or '')[:70]}" for r in rows
                                  if r[3] in ("queued", "sending")).most_common(5)),
    }


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--per-person", type=int, default=5)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--error-rate", type=float, default=0.03)
    parser.add_argument("--hang-rate", type=float, default=0.004)
    parser.add_argument("--limit", type=float, default=300, help="seconds before the run is stopped")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv if argv is not None else [])
    print(f"machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stage = Stage(Path(tmp))
        try:
            for database in args.databases.split(","):
                rows.append((database, chaos_run(stage, database, args)))
        finally:
            stage.stop()
    print(f"chaos: {args.people} people x {args.per_person} notifications, {args.senders} senders, every SQS "
          f"message handed over twice, 5 % of people blocked at the start and 5 % mid-run, "
          f"{args.error_rate:.1%} 5xx and {args.hang_rate:.1%} 6 s hangs; sandbox limits 30/s, 3 per chat in 3 s")
    head = ("database", "done", "s", "kills", "5xx", "hangs", "tg msgs", "emails", "lost", "dup in", "dup out",
            "stuck", "DLQ", "429s", "fb twice", "p50 ms", "p99 ms", "max ms")
    print(" ".join(f"{h:>8}" for h in head))
    for database, r in rows:
        values = (database, r["outcome"], f"{r['elapsed']:.0f}", r["kills"], r["errors"], r["hangs"], r["telegram"],
                  r["emails"], r["lost"], r["dup_in"], r["dup_out"], r["stuck"], r["dead"], r["429s"],
                  r["fallbacks_enqueued_twice"], f"{r['window_p50_ms']:.1f}", f"{r['window_p99_ms']:.1f}",
                  f"{r['window_max_ms']:.1f}")
        print(" ".join(f"{v:>8}" for v in values))
        print(f"{'':>8} statuses {r['statuses']}; duplicate emails {r['dup_mails']}; windows measured {r['windows']}")
        print(f"{'':>8} window = wait for the sender's thread (p99 {r['pickup_p99_ms']:.1f} ms, max "
              f"{r['pickup_max_ms']:.1f}) + the commit (p99 {r['commit_p99_ms']:.1f} ms, max {r['commit_max_ms']:.1f})")
        print(f"{'':>8} the thread was " + "; ".join(
            f"{cause} for {n} answers (then p99 {p99:.1f} ms, max {top:.1f})" for cause, (n, p99, top)
            in r["pickup_causes"].items()))
        if r["stuck_why"]:
            print(f"{'':>8} stuck: {r['stuck_why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
