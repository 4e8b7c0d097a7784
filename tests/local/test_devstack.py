"""
`make dev` (infra/local/devstack.py) stops cleanly: after Ctrl-C, a signal to its process
group (once, or twice in a row), a signal during start-up, or even SIGKILL, no child survives
and every port is free for the next start. And `make dev` does not reinstall a virtualenv
that is already installed from the same requirements (issue 13, item 8).

The stack runs for real on unusual free ports, with its own SQLite file and sandbox state;
every process it starts inherits a marker in its environment, which is how survivors are
found (whoever their parent is by then).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORT_NAMES = ("SITE_PORT", "SANDBOX_PORT", "WEBHOOK_PORT", "AWS_PORT")

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def can_bind(port: int) -> bool:
    """A server can listen here again: nothing listens, nothing holds it (connections the old
    server closed may linger in TIME_WAIT; servers set SO_REUSEADDR for that, as here)."""
    if answers(port):
        return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment holds `marker`."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


class Devstack:
    def __init__(self, workdir: Path, ports: dict | None = None):
        self.ports = ports or dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
        self.marker = f"devstack-test-{os.getpid()}-{time.monotonic_ns()}"
        self.log = workdir / f"{self.marker}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STAGE"))}
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update({
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "SANDBOX_STATE": str(workdir / "sandbox-state.json"),
            "DEVSTACK_TEST_MARKER": self.marker,
        })
        # Its own session and process group, as `make dev` in a terminal has.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.devstack"], cwd=ROOT, env=env,
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_until_answering(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not answers(self.ports[name]):
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"{name} never answered:\n{self.output()}"
            time.sleep(0.1)

    def signal_group(self, sig: int) -> None:
        os.killpg(self.process.pid, sig)

    def wait_for_everything_to_stop(self, timeout: float = 20) -> list[int]:
        """Processes of this stack still alive after `timeout` seconds (none, hopefully)."""
        deadline = time.monotonic() + timeout
        while True:
            alive = processes_with(self.marker)
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def clean_up(self) -> None:
        for pid in processes_with(self.marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("devstack")


@pytest.fixture
def devstack(workdir):
    started = []

    def start(ports: dict | None = None) -> Devstack:
        stack = Devstack(workdir, ports)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.clean_up()


def describe(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes().replace(bytes(1), b' ').decode()}")
        except OSError:
            pass
    return out


@pytest.mark.parametrize(
    "signals, when",
    [
        pytest.param([signal.SIGINT], "SITE_PORT", id="ctrl-c"),
        pytest.param([signal.SIGTERM, signal.SIGTERM], "SITE_PORT", id="sigterm-twice"),
        pytest.param([signal.SIGTERM], "AWS_PORT", id="sigterm-while-starting"),
    ],
)
def test_a_signal_to_the_process_group_stops_every_child_and_frees_every_port(devstack, signals, when):
    stack = devstack()
    stack.wait_until_answering(when)
    assert len(processes_with(stack.marker)) >= 2  # devstack and at least moto
    for i, sig in enumerate(signals):
        if i:
            time.sleep(0.05)  # an impatient second Ctrl-C, or make passing the signal on
        stack.signal_group(sig)
    assert stack.process.wait(timeout=30) == 0, stack.output()
    assert stack.wait_for_everything_to_stop(timeout=5) == [], describe(processes_with(stack.marker))
    assert [name for name, port in stack.ports.items() if not can_bind(port)] == [], stack.output()


def test_even_sigkill_takes_the_children_with_it(devstack):
    stack = devstack()
    stack.wait_until_answering("SITE_PORT")
    children = [pid for pid in processes_with(stack.marker) if pid != stack.process.pid]
    assert len(children) >= 5, describe(children)  # moto, sandbox, webhook, sender, site
    stack.signal_group(signal.SIGKILL)  # devstack itself cannot clean up now
    stack.process.wait(timeout=10)
    assert stack.wait_for_everything_to_stop(timeout=20) == [], describe(processes_with(stack.marker))
    assert [name for name, port in stack.ports.items() if not can_bind(port)] == []
    # And the next start on the same ports is not blocked.
    again = devstack(stack.ports)
    again.wait_until_answering("SITE_PORT")
    again.signal_group(signal.SIGINT)
    assert again.process.wait(timeout=30) == 0, again.output()


def make_dry_run(where: Path) -> str:
    result = subprocess.run(
        ["make", "-n", "dev", "PYTHON=false"], cwd=where, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_dev_on_a_fresh_clone_with_the_venv_installed_does_not_reinstall(tmp_path):
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    checksum = subprocess.run(
        "cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1",
        shell=True, cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout.strip()
    stamp = tmp_path / ".venv" / f".installed-{checksum}"
    stamp.touch()
    # A fresh clone: every file is newer than the virtualenv installed earlier.
    old = time.time() - 3600
    os.utime(stamp, (old, old))
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt"):
        os.utime(tmp_path / name, None)

    commands = make_dry_run(tmp_path)
    assert "pip install" not in commands and "-m venv" not in commands, commands
    assert ".venv/bin/python -m infra.local.devstack" in commands

    # Changed requirements do install (the stamp's name follows their content).
    with (tmp_path / "requirements-dev.txt").open("a") as f:
        f.write("\n# changed\n")
    assert ".venv/bin/python -m pip install --quiet -r requirements-dev.txt" in make_dry_run(tmp_path)
