"""
The webhook handler, in-process: `python -m bench.webhook`.

1. Warm: p50 / p99 per update for a text (support message), a command (/help), a button
   press (accept a match request) and a my_chat_member (block / unblock), on SQLite and on
   PostgreSQL (BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/h_bot_bench;
   skipped when it cannot connect). Goal: p99 <= 10 ms. Measured without a queue (the
   outbox rows are written, the SQS call skipped) and, on SQLite, with moto's SQS.
2. Sustained: updates per second from one process (the same mix, back to back).
3. Cold start: a fresh interpreter to the first answered update, for handlers.webhook and
   for a naive handler that imports Django, python-telegram-bot and boto3 (with its SQS
   client) at import time and parses with Update.de_json. Every kind of update that needs no
   outbox row (issue 14): /help, /settings and an unknown command (answered in the webhook's
   response), a support text (acknowledged there), a button press that only answers (from
   someone not connected), a block, an ignored update (an edited message); and a button press
   that does write one (Accept under a pending match request: the edit goes through the
   outbox). Goals: <= 300 ms, and at most 0.4 of the naive one for every update kind that
   needs no outbox row. With and without a queue configured (moto), since creating the boto3
   client is most of the cost of an enqueue. BENCH_WEBHOOK_COLD_KINDS picks kinds.
   Both checkouts are byte-compiled first, as the deployed packages are: a source file
   without current bytecode would be compiled again in every cold child (PYTHONDONTWRITEBYTECODE).

`--rev REV` (repeatable) measures the cold start of other commits too, each from a fresh
`git worktree` (the children run this file with the worktree's code on their path), so a
"before" figure can be measured again at any time: `python -m bench.webhook --cold-only
--rev 98eca47 --rev HEAD`. `--cold-only` skips parts 1 and 2.

Each configuration runs in its own process (Django's settings are per process).
"""

from __future__ import annotations

# Only what the children need is imported here: a cold-start child pays for every import of
# this file, ours and the naive handler alike, which would blur their ratio (statistics alone
# pulls in decimal and fractions). The parent imports the rest where it uses it.
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SECRET = "local-webhook-secret-not-a-secret"
WARM_ROUNDS = int(os.environ.get("BENCH_WEBHOOK_ROUNDS", "300"))  # per kind
COLD_RUNS = int(os.environ.get("BENCH_WEBHOOK_COLD_RUNS", "5"))
# /help is answered in the webhook's response; a button press answers its query there and
# edits the message through the outbox; a support text is acknowledged there; a block
# answers nothing.
COLD_KINDS = tuple(os.environ.get(
    "BENCH_WEBHOOK_COLD_KINDS", "command,settings,unknown,text,press,my_chat_member,ignored,button").split(","))
# How the table names them.
KIND_NAMES = {"command": "/help", "settings": "/settings", "unknown": "/other", "press": "press*",
              "my_chat_member": "block", "button": "Accept"}

NAIVE_HANDLER = '''
import os, json
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
import django
django.setup()
import telegram
import boto3
from django.conf import settings
from project.core.secrets import bot_token
_bot = telegram.Bot(bot_token(), base_url=settings.TELEGRAM_API_BASE_URL + "/bot")
_sqs = boto3.client("sqs", region_name="eu-central-1")
from project.core.secrets import webhook_secrets
from project.bot.flows.receive_update import receive_update

def handler(event, context=None):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if headers.get("x-telegram-bot-api-secret-token") not in webhook_secrets():
        return {"statusCode": 401, "body": ""}
    data = json.loads(event["body"])
    telegram.Update.de_json(data, _bot)
    receive_update(data)
    return {"statusCode": 200, "body": "{}"}
'''


def event(update: dict) -> dict:
    return {
        "version": "2.0",
        "headers": {"content-type": "application/json", "x-telegram-bot-api-secret-token": SECRET},
        "requestContext": {"http": {"method": "POST", "path": "/telegram/webhook"}},
        "body": json.dumps(update),
        "isBase64Encoded": False,
    }


# --- child: warm and sustained ------------------------------------------------------------------


def _seed(rounds: int):
    from django.contrib.auth import get_user_model

    from project.meetups.models import MatchRequest
    from project.telegram_accounts.models import TelegramAccount

    User = get_user_model()
    ada = User.objects.create_user(username="ada", email="ada@example.com")
    TelegramAccount.objects.create(user=ada, telegram_id=4242, first_name="Ada")
    senders = User.objects.bulk_create(
        [User(username=f"sender{i}", email=f"sender{i}@example.com") for i in range(rounds)]
    )
    requests = MatchRequest.objects.bulk_create([MatchRequest(from_user=s, to_user=ada) for s in senders])
    return [r.pk for r in requests]


def _updates(kind: str, n: int, update_id: int, request_ids: list[int]):
    bot = {"id": 7000000001, "is_bot": True, "first_name": "Bot"}
    ada = {"id": 4242, "is_bot": False, "first_name": "Ada", "language_code": "en"}
    chat = {"id": 4242, "type": "private", "first_name": "Ada"}
    if kind == "text":
        return {"update_id": update_id, "message": {"message_id": n + 1, "from": ada, "chat": chat, "date": 1_700_000_000,
                                                    "text": f"Hello, I have a question about my meetup ({n})."}}
    if kind in ("command", "settings", "unknown"):
        text = {"command": "/help", "settings": "/settings", "unknown": "/frobnicate"}[kind]
        return {"update_id": update_id, "message": {"message_id": n + 1, "from": ada, "chat": chat, "date": 1_700_000_000,
                                                    "text": text, "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}}
    if kind == "ignored":
        return {"update_id": update_id, "edited_message": {"message_id": n + 1, "from": ada, "chat": chat, "date": 1_700_000_000,
                                                           "edit_date": 1_700_000_001, "text": "Edited."}}
    if kind in ("button", "press"):
        data = f"mr:{request_ids[n % len(request_ids)]}:accept"
        return {"update_id": update_id, "callback_query": {
            "id": str(10**12 + update_id), "from": ada, "chat_instance": "42", "data": data,
            "message": {"message_id": 5, "from": bot, "chat": chat, "date": 1_700_000_000,
                        "text": "Bea would like to meet you.",
                        "reply_markup": {"inline_keyboard": [[{"text": "Accept", "callback_data": data}]]}}}}
    old, new = ("member", "kicked") if n % 2 == 0 else ("kicked", "member")
    return {"update_id": update_id, "my_chat_member": {
        "chat": chat, "from": ada, "date": 1_700_000_000,
        "old_chat_member": _member(bot, old), "new_chat_member": _member(bot, new)}}


def _member(bot: dict, status: str) -> dict:
    # Telegram's ChatMemberBanned carries until_date (0: for ever), and PTB insists on it.
    return {"user": bot, "status": status, **({"until_date": 0} if status == "kicked" else {})}


def child_warm() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    logging.disable(logging.INFO)  # one log line per update is real, but the console is not CloudWatch
    call_command("migrate", verbosity=0, interactive=False)
    from handlers.webhook import handler

    rounds = WARM_ROUNDS
    request_ids = _seed(rounds)
    kinds = ["text", "command", "button", "my_chat_member"]
    timings: dict[str, list[float]] = {k: [] for k in kinds}
    cpu_timings: dict[str, list[float]] = {k: [] for k in kinds}
    update_id = 1
    for n in range(-20, rounds):  # 20 rounds of warm-up, not counted
        for kind in kinds:
            update = _updates(kind, max(n, 0) if n >= 0 else rounds + n, update_id, request_ids)
            update_id += 1
            started, cpu_started = time.perf_counter(), time.process_time()
            answer = handler(event(update), None)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            assert answer["statusCode"] == 200, answer
            if n >= 0:
                timings[kind].append(elapsed)
                cpu_timings[kind].append(cpu)
    # Sustained: the mix back to back on one process, no pauses.
    count = rounds * 2
    started, cpu_started = time.perf_counter(), time.process_time()
    for n in range(count):
        kind = kinds[n % 4]
        handler(event(_updates(kind, n // 4, update_id, request_ids)), None)
        update_id += 1
    sustained = count / (time.perf_counter() - started)
    sustained_cpu = count / (time.process_time() - cpu_started)
    print(json.dumps({"timings": timings, "cpu": cpu_timings, "sustained": sustained, "sustained_cpu": sustained_cpu}))


# --- child: cold start -----------------------------------------------------------------------


def child_seed(count: int) -> None:
    """Migrate the cold-start database and make `count` pending match requests for Ada."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    print(json.dumps(_seed(count)))


def child_cold(which: str, spawned_at: float, kind: str = "command", request_id: int = 0) -> None:
    if which == "ours":
        from handlers.webhook import handler
    else:
        namespace: dict = {}
        exec(compile(NAIVE_HANDLER, "naive_webhook.py", "exec"), namespace)
        handler = namespace["handler"]
    update_id = int(time.time() * 1000) % 10**12
    update = _updates(kind, 0, update_id, [request_id])
    if kind == "text":  # the first message of a new conversation, from someone new each run
        person = {"id": 900_000 + request_id, "is_bot": False, "first_name": "Cy"}
        update["message"].update({"from": person, "chat": {"id": person["id"], "type": "private", "first_name": "Cy"}})
    if kind == "press":  # a press that only answers: from someone not connected to the site
        person = {"id": 900_000 + request_id, "is_bot": False, "first_name": "Cy"}
        update["callback_query"]["from"] = person
        update["callback_query"]["message"]["chat"] = {"id": person["id"], "type": "private", "first_name": "Cy"}
    answer = handler(event(update), None)
    answered_at = time.time()
    assert answer["statusCode"] == 200, answer
    import resource
    import sys as _sys

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"ms": (answered_at - spawned_at) * 1000, "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
                      "telegram_imported": "telegram" in _sys.modules, "boto3_imported": "boto3" in _sys.modules}))


# --- parent ----------------------------------------------------------------------------------------


def _run(args: list[str], env: dict, checkout: Path = ROOT) -> dict:
    """Run this file as a child with `checkout`'s code on its path (this file's own code
    runs, so a worktree of an older commit is measured with today's yardstick)."""
    import subprocess

    full_env = {**os.environ, "STAGE": "test", "DJANGO_SETTINGS_MODULE": "project.settings", **env,
                "PYTHONPATH": str(checkout)}
    out = subprocess.run([PY, str(Path(__file__).resolve()), *args], cwd=checkout, env=full_env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _postgres_url() -> str | None:
    url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/h_bot_bench")
    try:
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"(PostgreSQL skipped: {exc})")
        return None
    return url


def _sqlite_url(tmp: str, name: str) -> str:
    return f"sqlite:///{tmp}/{name}.sqlite3"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def _moto():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "eu-central-1"}
    import boto3

    sqs = boto3.client("sqs", region_name="eu-central-1", endpoint_url=endpoint,
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    env["OUTBOX_QUEUE_URL"] = sqs.create_queue(QueueName="bench-outbox")["QueueUrl"]
    return server, env


def _cold(label: str, checkout: Path, tmp: str, moto_env: dict) -> list[tuple]:
    """Cold starts of one checkout: (label, kind, queue, {which: (wall ms, cpu ms)}, flags).

    Ours and naive run in turn (not all of one, then all of the other), so a busy spell on a
    shared machine weighs on both alike; the CPU figures are the steadier yardstick."""
    import compileall
    import statistics

    # Deployed packages are byte-compiled (compileall -b): so is what is measured here.
    for part in ("project", "handlers"):
        compileall.compile_dir(str(checkout / part), quiet=1)
    cold_db = {"DATABASE_URL": _sqlite_url(tmp, f"cold_{label.replace(' ', '_')}")}
    needed = COLD_RUNS * 4 * len(COLD_KINDS)  # a fresh match request (or person) per run
    request_ids = iter(_run(["--child-seed", str(needed)], cold_db, checkout))
    rows = []
    for kind in COLD_KINDS:
        for queue_label, env in (("none", {}), ("SQS (moto)", moto_env)):
            wall: dict[str, list[float]] = {"ours": [], "naive": []}
            cpu: dict[str, list[float]] = {"ours": [], "naive": []}
            flags = None
            for _ in range(COLD_RUNS):
                for which in ("ours", "naive"):
                    request_id = next(request_ids)
                    spawned = time.time()
                    result = _run(["--child-cold", which, repr(spawned), kind, str(request_id)],
                                  {**cold_db, **env}, checkout)
                    wall[which].append(result["ms"])
                    cpu[which].append(result["cpu_ms"])
                    if which == "ours":
                        flags = (result["telegram_imported"], result["boto3_imported"])
            medians = {w: (statistics.median(wall[w]), statistics.median(cpu[w])) for w in wall}
            rows.append((label, kind, queue_label, medians, flags, cpu))
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="The webhook handler: warm, sustained, cold start.")
    parser.add_argument("--rev", action="append", default=[],
                        help="also measure the cold start of this commit (a fresh git worktree); repeatable")
    parser.add_argument("--cold-only", action="store_true", help="skip the warm and sustained parts")
    args = parser.parse_args(argv if argv is not None else [])
    from bench._worktree import short, worktree

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server, moto_env = _moto()
        try:
            configs = [("SQLite", {"DATABASE_URL": _sqlite_url(tmp, "warm")}),
                       ("SQLite + SQS (moto)", {"DATABASE_URL": _sqlite_url(tmp, "warm_sqs"), **moto_env})]
            pg = None if args.cold_only else _postgres_url()
            if pg:
                configs.append(("PostgreSQL", {"DATABASE_URL": pg}))
            if args.cold_only:
                configs = []
            else:
                print(f"Warm: {WARM_ROUNDS} updates of each kind after 20 rounds of warm-up; ms per update")
                print("(wall clock, and this process's CPU time: on a shared machine the CPU column is the steadier one)")
                print(f"{'database':<22} {'kind':<16} {'p50':>7} {'p99':>7} {'max':>7} {'cpu p50':>8} {'cpu p99':>8}")
            for label, env in configs:
                result = _run(["--child-warm"], env)
                everything = []
                all_cpu = []
                for kind, values in result["timings"].items():
                    cpu = result["cpu"][kind]
                    everything += values
                    all_cpu += cpu
                    print(f"{label:<22} {kind:<16} {_pct(values, .5):7.2f} {_pct(values, .99):7.2f} {max(values) * 1000:7.2f}"
                          f" {_pct(cpu, .5):8.2f} {_pct(cpu, .99):8.2f}")
                print(f"{label:<22} {'all':<16} {_pct(everything, .5):7.2f} {_pct(everything, .99):7.2f} {max(everything) * 1000:7.2f}"
                      f" {_pct(all_cpu, .5):8.2f} {_pct(all_cpu, .99):8.2f}")
                rows.append((label, result["sustained"], result["sustained_cpu"]))
            if rows:
                print("\nSustained, one process, the four kinds in turn:")
                for label, rate, cpu_rate in rows:
                    print(f"  {label:<22} {rate:8.0f} updates/s wall   ({cpu_rate:.0f} per CPU-second)")

            cold = []
            load_at_start = os.getloadavg()
            for rev in args.rev:
                with worktree(short(rev)) as checkout:
                    cold += _cold(short(rev), checkout, tmp, moto_env)
            cold += _cold("this tree", ROOT, tmp, moto_env)
            print(f"\nCold start: spawn of a fresh interpreter to the first answered update (median of {COLD_RUNS};"
                  " wall clock, and the CPU time of the child)")
            print(f"{'code':<10} {'update':<9} {'queue':<11} {'ours ms':>8} {'naive ms':>9} {'ratio':>6}"
                  f" {'ours cpu':>9} {'naive cpu':>10} {'ratio':>6}  ours imports PTB / boto3")
            for label, kind, queue_label, medians, flags, _ in cold:
                name = KIND_NAMES.get(kind, kind)
                (ours, ours_cpu), (naive, naive_cpu) = medians["ours"], medians["naive"]
                print(f"{label:<10} {name:<9} {queue_label:<11} {ours:8.0f} {naive:9.0f} {ours / naive:6.2f}"
                      f" {ours_cpu:9.0f} {naive_cpu:10.0f} {ours_cpu / naive_cpu:6.2f}  {flags[0]} / {flags[1]}")
            print("(* a press that only answers: from someone not connected to the site; Accept writes the edit"
                  " to the outbox)")
            # Every cold start of the kinds that need no outbox row together: one row's median of a
            # few runs moves by a few hundredths on a shared machine, this one much less.
            import statistics

            # And each kind over both queue settings (the queue changes nothing for them: no SQS client).
            def ratio(rows_of: list) -> tuple[int, float]:
                ours = [v for row in rows_of for v in row[5]["ours"]]
                naive = [v for row in rows_of for v in row[5]["naive"]]
                return len(ours), statistics.median(ours) / statistics.median(naive)

            for label in dict.fromkeys(row[0] for row in cold):
                no_row = [row for row in cold if row[0] == label and row[1] != "button"]
                if no_row:
                    count, pooled = ratio(no_row)
                    kinds = dict.fromkeys(row[1] for row in no_row)
                    per_kind = ", ".join(f"{KIND_NAMES.get(kind, kind)} {ratio([r for r in no_row if r[1] == kind])[1]:.2f}"
                                         for kind in kinds)
                    print(f"{label:<10} CPU ratio, every kind with no outbox row ({count} cold starts each): {pooled:.2f};"
                          f" by kind: {per_kind}")
            print("load average (1 / 5 / 15 min): at the start " + " / ".join(f"{x:.1f}" for x in load_at_start)
                  + ", at the end " + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-warm":
        child_warm()
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-seed":
        child_seed(int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-cold":
        child_cold(sys.argv[2], float(sys.argv[3]), *sys.argv[4:5], *map(int, sys.argv[5:6]))
    else:
        raise SystemExit(main(sys.argv[1:]))
