"""
A button press in `make dev`, end to end: `python -m bench.button_press [--rev REV]`.

Runs the `make dev` stack (`infra/local/devstack.py`: moto, the Telegram sandbox, the webhook
gateway and handler, the sender fed from the queue, the site) on free ports from a fresh
`git worktree` of REV (default HEAD; `--rev 98eca47` is the code before webhook answers),
with its own SQLite database, so neither another `make dev` nor the checkout's var/ is
touched and "before" stays reproducible. With several revs, all their stacks run at once
and the presses take turns between them. A fake user gets BENCH_PRESSES (default 60)
match-request notifications with Accept / Decline buttons (written by `notify()` through
the outbox, as the site does) and presses Accept under each in turn, through the sandbox's
chat page (`POST /chat/<id>/press`), waiting for the edited message before the next press.

Measured from the sandbox's own record (one clock, one machine): press to the
`answerCallbackQuery` the sandbox executed (the spinner stops) and press to the
`editMessageText` (the message shows the answer). p50 / p90 / max in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

from bench._worktree import short, worktree

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PRESSES = int(os.environ.get("BENCH_PRESSES", "60"))
FAKE_USER = 4242_0001


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# The part that runs with the checkout's code (cwd and PYTHONPATH = the worktree): seeds the
# database and writes the notifications through the site's own notify().
SEED = textwrap.dedent('''
    import json, os, sys
    import django
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from project.meetups.models import MatchRequest
    from project.notifications import notify
    from project.telegram_accounts.models import TelegramAccount
    user_id, presses = int(sys.argv[1]), int(sys.argv[2])
    User = get_user_model()
    ada = User.objects.create_user(username="bench-ada", email="bench-ada@example.com")
    TelegramAccount.objects.create(user=ada, telegram_id=user_id, first_name="Ada")
    ids = []
    for n in range(presses):
        bea = User.objects.create_user(username=f"bench-bea{n}", email=f"bench-bea{n}@example.com")
        with transaction.atomic():
            request = MatchRequest.objects.create(from_user=bea, to_user=ada, message="Coffee?")
            notify(ada, "match_request_received", text=f"Bea {n} would like to meet you.", link="/",
                   buttons=[[{"text": "Accept", "callback_data": f"mr:{request.pk}:accept"},
                             {"text": "Decline", "callback_data": f"mr:{request.pk}:decline"}]])
        ids.append(request.pk)
    print(json.dumps(ids))
''')


class Stack:
    """The checkout's devstack on free ports, with its output kept in a log file."""

    def __init__(self, checkout: Path, tmp: str, extra_env: dict | None = None):
        self.checkout = checkout
        self.ports = {name: free_port() for name in ("SITE_PORT", "SANDBOX_PORT", "WEBHOOK_PORT", "AWS_PORT")}
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "OUTBOX_"))},
            **{k: str(v) for k, v in self.ports.items()},
            "DATABASE_URL": f"sqlite:///{tmp}/dev.sqlite3",
            "PYTHONPATH": str(checkout),
            **(extra_env or {}),
        }
        self.log = open(Path(tmp) / "devstack.log", "w")
        self.sandbox = f"http://127.0.0.1:{self.ports['SANDBOX_PORT']}"

    def __enter__(self):
        self.process = subprocess.Popen([PY, "-m", "infra.local.devstack"], cwd=self.checkout, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        log = Path(self.log.name)
        while time.monotonic() < deadline:
            if "Press Ctrl-C" in log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("make dev did not come up:\n" + log.read_text(errors="replace")[-3000:])

    def __exit__(self, *exc):
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # devstack stops its children on SIGTERM
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()

    def django_env(self) -> dict:
        """What devstack gives its own processes (the local stage), for the seeding child."""
        code = ("import json; from infra.local import devstack; "
                "print(json.dumps(devstack.LOCAL_ENV))")
        local = json.loads(subprocess.run([PY, "-c", code], cwd=self.checkout, env=self.env, check=True,
                                          capture_output=True, text=True).stdout)
        aws = f"http://127.0.0.1:{self.ports['AWS_PORT']}"
        return {**self.env, **local, "OUTBOX_QUEUE_URL": f"{aws}/123456789012/outbox-local"}


class Presses:
    """One checkout's stack, seeded with `presses` notifications, pressed one at a time."""

    def __init__(self, checkout: Path, presses: int, tmp: str, extra_env: dict | None = None):
        import httpx

        self.checkout, self.presses = checkout, presses
        self.stack = Stack(checkout, tmp, extra_env)
        self.client = httpx.Client(base_url=self.stack.sandbox, timeout=30, trust_env=False)
        self.pressed_at: list[tuple[int, float]] = []

    def __enter__(self):
        self.stack.__enter__()
        self.client.post("/users", data={"id": FAKE_USER, "first_name": "Ada"})
        self.client.post(f"/chat/{FAKE_USER}/start")
        seeded = subprocess.run([PY, "-c", SEED, str(FAKE_USER), str(self.presses)], cwd=self.checkout,
                                env=self.stack.django_env(), capture_output=True, text=True)
        if seeded.returncode:
            raise RuntimeError(seeded.stderr[-3000:])
        self.request_ids = json.loads(seeded.stdout.strip().splitlines()[-1])
        self.messages = self._wait(self._notification_ids, f"{self.presses} notifications in the chat", 180)
        return self

    def __exit__(self, *exc):
        self.client.close()
        self.stack.__exit__(*exc)

    def _chat(self) -> list[dict]:
        return self.client.get(f"/chat/{FAKE_USER}/messages.json").json()["messages"]

    @staticmethod
    def _wait(check, what: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.05)  # how soon the next press goes; the figures come from the record
        raise RuntimeError(f"{what} did not happen within {timeout} s")

    def _notification_ids(self):
        ids = {}
        for m in self._chat():
            for row in (m.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if b.get("callback_data", "").endswith(":accept"):
                        ids[int(b["callback_data"].split(":")[1])] = m["message_id"]
        return ids if len(ids) == self.presses else None

    def press(self, n: int) -> None:
        """Press Accept under the n-th notification and wait until the message shows the answer."""
        request_id = self.request_ids[n]
        message_id = self.messages[request_id]
        self.pressed_at.append((message_id, time.time()))
        self.client.post(f"/chat/{FAKE_USER}/press", data={"message_id": message_id, "data": f"mr:{request_id}:accept"})
        self._wait(lambda: any(m["message_id"] == message_id and "edit_date" in m and not m.get("reply_markup")
                               for m in self._chat()), f"the edit of message {message_id}")

    def result(self) -> dict:
        record = self.client.get("/_sandbox/record").json()["record"]
        answers = [r for r in record if r["method"] == "answerCallbackQuery" and r["ok"]]
        edits = {int(r["params"]["message_id"]): r for r in record if r["method"] == "editMessageText" and r["ok"]}
        # Presses are one at a time, so the n-th answered query belongs to the n-th press.
        if len(answers) != len(self.pressed_at):
            raise RuntimeError(f"{len(answers)} callback answers for {len(self.pressed_at)} presses")
        spinner = [(answer["time"] - at) * 1000 for (_, at), answer in zip(self.pressed_at, answers)]
        edited = [(edits[message_id]["time"] - at) * 1000 for message_id, at in self.pressed_at]
        via = sorted({"webhook answer" if r.get("via") == "webhook" else "outbox (sender)" for r in answers})
        return {"spinner": spinner, "edited": edited, "answered_via": via}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", action="append", help="git revision(s) to measure (default: HEAD)")
    parser.add_argument("--presses", type=int, default=PRESSES)
    parser.add_argument("--without-answers", action="append", default=[], metavar="REV",
                        help="also run REV with TELEGRAM_WEBHOOK_ANSWERS=false (its answers through the outbox)")
    args = parser.parse_args(argv if argv is not None else [])
    variants = [(short(rev), short(rev), {}) for rev in (args.rev or ["HEAD"])]
    variants += [(f"{short(rev)}-outbox", short(rev), {"TELEGRAM_WEBHOOK_ANSWERS": "false"})
                 for rev in args.without_answers]
    commits = [label for label, _, _ in variants]
    with ExitStack() as stack:
        runs = []
        for _, commit, extra_env in variants:
            checkout = stack.enter_context(worktree(commit))
            runs.append(stack.enter_context(Presses(checkout, args.presses, stack.enter_context(
                tempfile.TemporaryDirectory()), extra_env)))
        # Every stack runs at once and the presses take turns, so a busy spell on a shared
        # machine weighs on each commit alike.
        for n in range(args.presses):
            for run in runs:
                run.press(n)
        results = [run.result() for run in runs]
    print(f"Button press in make dev: {args.presses} presses of Accept, one at a time; ms from the press")
    print(f"{'rev':<16} {'to':<22} {'p50':>7} {'p90':>7} {'max':>7}  callback answered by")
    for commit, result in zip(commits, results):
        for what, label in (("spinner", "spinner stops"), ("edited", "message edited")):
            values = result[what]
            print(f"{commit:<16} {label:<22} {_pct(values, .5):7.0f} {_pct(values, .9):7.0f} {max(values):7.0f}"
                  f"  {', '.join(result['answered_via'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
