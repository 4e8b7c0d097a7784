"""
What the signals cost on the hot path: `python -m bench.signals`.

The same process, the same database, the same handler, switched between
  without: no metrics, text log lines (how the code logged before issue 11)
  with:    EMF metrics and JSON log lines with the bound ids (a deployed stage)
in alternating blocks, so a busy spell on the shared machine weighs on both alike. Output
goes to /dev/null (in Lambda it goes to the log stream; what CloudWatch does with it is not
the function's time). Each figure is the ratio of the two in one run.

1. The webhook handler, warm: a support message (text) and /help (command) per round,
   SQLite, no queue. p50 per update, and the ratio.
2. The signals alone, per update: an invocation, bind(update_id), outcome(), one INFO line
   (what the webhook adds to each update), without vs with, in microseconds of CPU.
3. Cold start: importing Powertools (the JSON formatter and Metrics) after django.setup(),
   in fresh interpreters, with botocore already loaded (the deployed webhook has read its
   stage secret through boto3 by then) and without. Median of several runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SECRET = "local-webhook-secret-not-a-secret"
BLOCKS = int(os.environ.get("BENCH_SIGNALS_BLOCKS", "10"))  # per mode
BLOCK = int(os.environ.get("BENCH_SIGNALS_BLOCK", "40"))  # updates per block
MICRO = int(os.environ.get("BENCH_SIGNALS_MICRO", "20000"))
COLD_RUNS = int(os.environ.get("BENCH_SIGNALS_COLD_RUNS", "7"))


def _event(update: dict) -> dict:
    return {
        "version": "2.0",
        "headers": {"content-type": "application/json", "x-telegram-bot-api-secret-token": SECRET},
        "requestContext": {"http": {"method": "POST", "path": "/telegram/webhook"}},
        "body": json.dumps(update),
        "isBase64Encoded": False,
    }


def _update(update_id: int, text: str) -> dict:
    person = {"id": 4242, "is_bot": False, "first_name": "Ada"}
    message = {"message_id": update_id, "from": person, "chat": {"id": 4242, "type": "private", "first_name": "Ada"},
               "date": 1_700_000_000, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


class _Modes:
    """Switches one process between the two ways of emitting signals."""

    def __init__(self):
        import logging

        from django.conf import settings

        from project.core.observability.jsonlog import JsonLinesFormatter

        self.settings = settings
        self.devnull = open(os.devnull, "w")
        root = logging.getLogger()
        self.handler = root.handlers[0]  # settings.LOGGING's console handler
        self.handler.setStream(self.devnull)
        root.setLevel(logging.INFO)  # a deployed stage's LOG_LEVEL
        self.formatters = {"without": logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"),
                           "with": JsonLinesFormatter()}

    def use(self, mode: str) -> None:
        from project.core.observability import metrics

        self.settings.METRICS_ENABLED = mode == "with"
        metrics.reset()
        self.handler.setFormatter(self.formatters[mode])
        sys.stdout = self.devnull  # EMF lines are printed


def child() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model

    from handlers.webhook import handler
    from project.core import observability
    from project.telegram_accounts.models import TelegramAccount

    user = get_user_model().objects.create_user(username="ada", email="ada@example.com")
    TelegramAccount.objects.create(user=user, telegram_id=4242, first_name="Ada")
    real_stdout = sys.stdout
    modes = _Modes()

    # 1. The handler, warm, in alternating blocks.
    timings: dict[str, list[float]] = {"without": [], "with": []}
    update_id = 1
    for block in range(2 * BLOCKS + 2):
        mode = ("without", "with")[block % 2]
        modes.use(mode)
        for n in range(BLOCK):
            text = "/help" if n % 2 else f"A question about my meetup ({update_id})."
            started = time.perf_counter()
            answer = handler(_event(_update(update_id, text)), None)
            elapsed = time.perf_counter() - started
            update_id += 1
            assert answer["statusCode"] == 200, answer
            if block >= 2 and n > 0:  # a warm-up block each, and each block's first update
                timings[mode].append(elapsed)

    # 2. The signals alone, per update (CPU time: no database, no I/O but /dev/null).
    import logging

    logger = logging.getLogger("handlers.webhook")
    micro: dict[str, list[float]] = {"without": [], "with": []}
    for round_ in range(6):
        mode = ("without", "with")[round_ % 2]
        modes.use(mode)
        started = time.process_time()
        for n in range(MICRO):
            if mode == "with":
                with observability.invocation(request_id="0f1e2d3c4b5a69788796a5b4c3d2e1f0"):
                    observability.bind(update_id=n)
                    observability.outcome("Webhook", "handled")
                    logger.info("webhook: update %s (%s) %s", n, "message", "handled")
            else:
                logger.info("webhook: update %s (%s) %s", n, "message", "handled")
        micro[mode].append((time.process_time() - started) / MICRO)
    sys.stdout = real_stdout
    print(json.dumps({"timings": timings, "micro": {k: min(v) for k, v in micro.items()}}))


COLD = """
import time, sys, os
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
import django
django.setup()
if sys.argv[1] == "botocore":
    import botocore.session
started = time.perf_counter()
import aws_lambda_powertools.logging.formatter, aws_lambda_powertools.metrics
print((time.perf_counter() - started) * 1000)
"""


def _cold(preloaded: str) -> float:
    env = {**os.environ, "STAGE": "test", "FUNCTION_ROLE": "webhook", "LOG_FORMAT": "text"}
    runs = []
    for _ in range(COLD_RUNS):
        out = subprocess.run([PY, "-c", COLD, preloaded], cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "STAGE": "test", "DJANGO_SETTINGS_MODULE": "project.settings",
               "DATABASE_URL": f"sqlite:///{tmp}/signals.sqlite3", "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}
        env.pop("OUTBOX_QUEUE_URL", None)
        out = subprocess.run([PY, "-m", "bench.signals", "--child"], cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        result = json.loads(out.stdout.strip().splitlines()[-1])
    timings, micro = result["timings"], result["micro"]
    without50, with50 = _pct(timings["without"], 0.5), _pct(timings["with"], 0.5)
    without99, with99 = _pct(timings["without"], 0.99), _pct(timings["with"], 0.99)
    cold_plain, cold_boto = _cold("none"), _cold("botocore")
    print(f"{'':52} {'without':>10} {'with':>10} {'ratio':>7}")
    print(f"{'webhook update, warm, p50 (ms)':52} {without50:10.2f} {with50:10.2f} {with50 / without50:7.2f}")
    print(f"{'webhook update, warm, p99 (ms)':52} {without99:10.2f} {with99:10.2f} {with99 / without99:7.2f}")
    w, s = micro["without"] * 1e6, micro["with"] * 1e6
    print(f"{'signals of one update alone, CPU (µs)':52} {w:10.1f} {s:10.1f} {s / w:7.2f}")
    print(f"{'  added per update (µs)':52} {'':10} {s - w:10.1f}")
    print(f"{'cold: Powertools import after django.setup() (ms)':52} {'':10} {cold_plain:10.1f}")
    print(f"{'cold: the same, botocore already loaded (ms)':52} {'':10} {cold_boto:10.1f}")
    print(f"({len(timings['with'])} updates per mode in {BLOCKS} alternating blocks; "
          f"{MICRO} signal sets x 3 rounds, best round; {COLD_RUNS} cold runs each)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        child()
    else:
        sys.exit(main())
