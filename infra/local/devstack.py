"""
`make dev`: the whole system on one machine, with no network.

Starts, in order, each with its output prefixed by its name:
  aws      moto's server standing in for SQS and Secrets Manager                  :5000
           (then infra/local/aws_bootstrap.py creates the queue, DLQ and secret)
  sandbox  the Telegram sandbox (Bot API, both sign-in flows, fake users' chats)  :8081
  webhook  the webhook Lambda's handler behind a local function URL              :8001
           (then `manage.py setup_webhook` registers it with the sandbox)
  sender   the sender Lambda's handler, fed from the queue like Lambda's poller
  site     Django's development server                                            :8000

Ctrl-C stops them all, and so does a signal to the process group (`kill -TERM -<pgid>`,
`timeout`, a closed terminal): each child runs in a session of its own (so a Ctrl-C reaches
only this process, which stops the children in order), is stopped with SIGTERM and, if it does
not go within a few seconds, SIGKILL, and is reaped before this process exits. Further signals
while stopping do not interrupt the stopping. Should this process itself be killed outright
(SIGKILL), the children go too: each is started through `--child`, which asks Linux to send it
SIGTERM when its parent dies (PR_SET_PDEATHSIG). So no moto or sandbox is left holding a port
for the next `make dev`.

The environment below is the local stage's: every value can be overridden from the shell.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

SITE_PORT = int(os.environ.get("SITE_PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8081"))
WEBHOOK_PORT = int(os.environ.get("WEBHOOK_PORT", "8001"))
AWS_PORT = int(os.environ.get("AWS_PORT", "5000"))

LOCAL_ENV = {
    "STAGE": "local",
    "DJANGO_SETTINGS_MODULE": "project.settings",
    "SITE_DOMAIN": f"127.0.0.1:{SITE_PORT}",
    "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
    "TELEGRAM_OAUTH_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
    # t.me links open the sandbox's stand-in page for t.me (contract C6).
    "TELEGRAM_DEEP_LINK_BASE": f"http://127.0.0.1:{SANDBOX_PORT}",
    "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{WEBHOOK_PORT}/telegram/webhook",
    # moto stands in for AWS; the same code paths as a deployed stage read the secret and
    # use the queue, only the endpoint differs.
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{AWS_PORT}",
    "AWS_REGION": "eu-central-1",
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "SECRETS_BACKEND": "aws",
    "SECRETS_NAME": "site/local",
    "PYTHONUNBUFFERED": "1",
}

# moto logs every request; the poller's long polls would bury everything else.
QUIET_LINES = {"aws": ('" 200 -',)}

COLOURS = {"aws": "34", "sandbox": "35", "webhook": "36", "sender": "33", "site": "32", "setup": "37"}

# Filled in once the local AWS resources exist (the queue URLs).
discovered: dict[str, str] = {}


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in LOCAL_ENV.items():
        env.setdefault(key, value)
    env.update({k: v for k, v in discovered.items() if k not in os.environ})
    return env


def say(name: str, line: str) -> None:
    colour = COLOURS.get(name, "37")
    sys.stdout.write(f"\033[{colour}m{name:>8} |\033[0m {line}")
    if not line.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def run_step(name: str, *args: str) -> str:
    say("setup", f"{name}: {' '.join(args)}")
    result = subprocess.run([PY, *args], cwd=ROOT, env=environment(), capture_output=True, text=True)
    for line in (result.stdout + result.stderr).splitlines():
        say("setup", f"  {line}")
    result.check_returncode()
    return result.stdout


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"Nothing answered on port {port} within {timeout:.0f} s.")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How long the children together get to stop after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 5.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def run_as_child(args: list[str]) -> None:
    """`devstack.py --child ARGS...`: become `python ARGS...`, dying with the parent (Linux)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own stop() is all there is
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(0)
    # The parent blocked the stop signals around the fork (see Processes.start) and a signal
    # mask is inherited through fork and exec: unblock them, or SIGTERM would never stop us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    # The death signal survives exec (it is cleared only for set-user-ID programs).
    os.execv(PY, [PY, *args])


class Processes:
    def __init__(self):
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        # No stop signal between the fork and the bookkeeping: a child that exists is always
        # in `running`, so stop() finds it.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            process = subprocess.Popen(
                [PY, "-m", "infra.local.devstack", "--child", *args],
                cwd=ROOT,
                env=environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            self.running.append((name, process))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        threading.Thread(target=self._pump, args=(name, process), daemon=True).start()
        return process

    @staticmethod
    def _pump(name: str, process: subprocess.Popen) -> None:
        quiet = QUIET_LINES.get(name, ())
        for line in process.stdout:
            if not any(marker in line for marker in quiet):
                say(name, line)

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        # The whole session's group, not just its leader: whatever the child started goes too.
        # Only while the leader is unreaped (its pid, so its group id, cannot be reused yet).
        if process.returncode is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """SIGTERM every child's group (last started first), SIGKILL what is left after the
        grace period, and reap them all. Signals that arrive meanwhile (a second Ctrl-C, the
        group's SIGTERM after make's) are ignored, so the stopping always finishes."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
        try:
            for _name, process in reversed(self.running):
                self._signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for _name, process in self.running:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            for name, process in self.running:
                if process.poll() is None:
                    say("setup", f"{name} did not stop within {STOP_GRACE_SECONDS:.0f} s; killing it.")
                    self._signal_group(process, signal.SIGKILL)
                    process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def first_exit(self) -> tuple[str, int] | None:
        for name, process in self.running:
            code = process.poll()
            if code is not None:
                return name, code
        return None


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


_stopping = False


def _stop_on_signal(signum, frame):
    # Ctrl-C, `kill`, a closed terminal or `timeout` all stop the whole stack the same way:
    # the children run in their own sessions and would otherwise outlive this process. Only
    # the first signal interrupts; a second one (an impatient Ctrl-C, make passing on the
    # group's signal) must not interrupt the stopping it started.
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise KeyboardInterrupt


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        run_as_child(sys.argv[2:])
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_on_signal)
    (ROOT / "var").mkdir(exist_ok=True)
    busy = [port for port in (SITE_PORT, SANDBOX_PORT, WEBHOOK_PORT, AWS_PORT) if not port_is_free(port)]
    if busy:
        say("setup", f"Port(s) {', '.join(map(str, busy))} already in use: is another `make dev` running?")
        return 1

    processes = Processes()
    try:
        processes.start("aws", "-m", "moto.server", "-H", "127.0.0.1", "-p", str(AWS_PORT))
        wait_for_port(AWS_PORT)
        for line in run_step("queue and secret", "-m", "infra.local.aws_bootstrap").splitlines():
            key, _, value = line.partition("=")
            if key and value:
                discovered[key] = value
        run_step("migrate", "manage.py", "migrate", "--noinput", "-v", "0")
        # (The cache table comes with migrate: accounts/0003_cache_table.)
        run_step("site record", "manage.py", "ensure_site")

        # The fake users and chats survive restarts (SANDBOX_STATE: another file, e.g. in tests).
        sandbox_state = os.environ.get("SANDBOX_STATE") or str(ROOT / "var" / "sandbox-state.json")
        processes.start(
            "sandbox", "-m", "infra.local.telegram_sandbox", "--host", "127.0.0.1", "--port", str(SANDBOX_PORT),
            "--state", sandbox_state, "--quiet",
        )
        processes.start("webhook", "-m", "infra.local.webhook_gateway", "--port", str(WEBHOOK_PORT))
        wait_for_port(SANDBOX_PORT)
        wait_for_port(WEBHOOK_PORT)
        run_step("webhook", "manage.py", "setup_webhook")
        processes.start("sender", "-m", "infra.local.sqs_poller")
        processes.start("site", "manage.py", "runserver", f"127.0.0.1:{SITE_PORT}", "--noreload")
        wait_for_port(SITE_PORT)
        say("setup", f"Site:     http://127.0.0.1:{SITE_PORT}/")
        say("setup", f"Mail:     http://127.0.0.1:{SITE_PORT}/dev/mail/")
        say("setup", f"Telegram: http://127.0.0.1:{SANDBOX_PORT}/  (fake users and their chats with the bot)")
        say("setup", "Press Ctrl-C to stop everything.")
        while True:
            exited = processes.first_exit()
            if exited:
                say("setup", f"{exited[0]} stopped with exit code {exited[1]}; stopping the rest.")
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("setup", "Stopping.")
        return 0
    except subprocess.CalledProcessError as exc:
        say("setup", f"A set-up step failed (exit code {exc.returncode}); stopping.")
        return 1
    finally:
        processes.stop()


if __name__ == "__main__":
    sys.exit(main())
