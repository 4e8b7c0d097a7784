"""
`make dev`: the whole system on one machine, with no network.

Starts, in order, each with its output prefixed by its name:
  sandbox  the Telegram sandbox (Bot API, both sign-in flows, fake users' chats)  :8081
  site     Django's development server                                            :8000

Ctrl-C stops them all. The environment below is the local stage's: every value can be
overridden from the shell.
"""

from __future__ import annotations

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

LOCAL_ENV = {
    "STAGE": "local",
    "DJANGO_SETTINGS_MODULE": "project.settings",
    "SITE_DOMAIN": f"127.0.0.1:{SITE_PORT}",
    "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
    "TELEGRAM_OAUTH_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
    "PYTHONUNBUFFERED": "1",
}

COLOURS = {"sandbox": "35", "site": "32", "setup": "37"}


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in LOCAL_ENV.items():
        env.setdefault(key, value)
    return env


def say(name: str, line: str) -> None:
    colour = COLOURS.get(name, "37")
    sys.stdout.write(f"\033[{colour}m{name:>8} |\033[0m {line}")
    if not line.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def run_step(name: str, *args: str) -> None:
    say("setup", f"{name}: {' '.join(args)}")
    subprocess.run([PY, *args], cwd=ROOT, env=environment(), check=True)


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"Nothing answered on port {port} within {timeout:.0f} s.")


class Processes:
    def __init__(self):
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [PY, *args],
            cwd=ROOT,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(name, process), daemon=True).start()
        self.running.append((name, process))
        return process

    @staticmethod
    def _pump(name: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            say(name, line)

    def stop(self) -> None:
        for name, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.running:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def first_exit(self) -> tuple[str, int] | None:
        for name, process in self.running:
            code = process.poll()
            if code is not None:
                return name, code
        return None


def main() -> int:
    (ROOT / "var").mkdir(exist_ok=True)
    run_step("migrate", "manage.py", "migrate", "--noinput", "-v", "0")
    run_step("cache table", "manage.py", "createcachetable")
    run_step("site", "manage.py", "ensure_site")

    processes = Processes()
    try:
        processes.start("sandbox", "-m", "infra.local.telegram_sandbox", "--host", "127.0.0.1", "--port", str(SANDBOX_PORT))
        wait_for_port(SANDBOX_PORT)
        processes.start("site", "manage.py", "runserver", f"127.0.0.1:{SITE_PORT}", "--noreload")
        wait_for_port(SITE_PORT)
        say("setup", f"Site:     http://127.0.0.1:{SITE_PORT}/")
        say("setup", f"Mail:     http://127.0.0.1:{SITE_PORT}/dev/mail/")
        say("setup", f"Telegram: http://127.0.0.1:{SANDBOX_PORT}/  (fake users and their chats)")
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
    finally:
        processes.stop()


if __name__ == "__main__":
    sys.exit(main())
