"""
The rehearsal's Lambda: each function runs from its unzipped package alone, as AWS runs it.

For a function name, `LambdaRuntime.invoke(name, event)` does what Lambda does:

- reads the function's configuration from moto (handler, role, timeout, memory,
  environment, code hash); a configuration or code change retires the warm worker, and the
  next invocation starts a new one (a new container);
- unzips the function's package (the zip moto holds, which `zappa deploy/update` uploaded)
  into ~/.cache/meetups-rehearsal/<checkout>/functions/code/<code sha>/ (the task root),
  once per code, as soon as the code is uploaded (Lambda's `Pending` state): a later
  rehearsal deploying the same bytes finds it there;
- gets the credentials of the function's role from moto's STS (AssumeRole as the Lambda
  service, so the role's trust policy must allow Lambda), valid for the container's life;
- starts a worker: `python3.11 -I -S bootstrap.py` from the runtime directory (only the
  runtime's SDK and bootstrap.py), in its own mount namespace where every file is
  read-only except a fresh /tmp (`unshare -m`, read-only bind mounts), with exactly the
  function's configured environment plus Lambda's reserved variables (and the rehearsal
  network's proxy and CA, see network.py);
- sends the event, waits at most the function's timeout (then kills the worker: "Task
  timed out"), returns the result or the error, and the invocation's log lines.

One warm worker per function serves invocations one at a time, like one container.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from infra.rehearse.aws_world import ACCOUNT, REGION, AwsWorld
from infra.rehearse.runtime_deps import LAMBDA_ROOT, runtime_dir

BASE_DIR = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = LAMBDA_ROOT / "functions"  # task roots (unzipped packages) and the hosts file
CODE_DIR = FUNCTIONS_DIR / "code"  # unzipped packages, by code hash
KEPT_CODES = 6
TRUST_DIR = LAMBDA_ROOT / "trust"  # the packages' CA bundles with the rehearsal's CA added (mounted over them)
LOG_DIR = BASE_DIR / "var" / "rehearse" / "logs" / "functions"
# Not mounted read-only: the kernel's and the devices' file systems, and /tmp (a fresh tmpfs).
NOT_READ_ONLY = {"proc", "sys", "dev", "tmp"}


class IsolationUnavailable(RuntimeError):
    pass


def check_isolation() -> None:
    """The rehearsal needs mount namespaces (root, or a kernel allowing them); say so plainly."""
    if shutil.which("unshare") is None:
        raise IsolationUnavailable("`unshare` (util-linux) is not installed: the functions cannot run read-only")
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --make-rprivate / && mount -t tmpfs tmpfs /tmp"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise IsolationUnavailable(
            "cannot create a mount namespace with read-only bind mounts here "
            f"(`unshare -m` + `mount`: {probe.stderr.strip() or probe.returncode}); "
            "the rehearsal runs each function with a read-only file system and needs root "
            "(or CAP_SYS_ADMIN) for that")


@functools.cache
def python311() -> str:
    """The interpreter binary itself (a pyenv shim would add its own variables)."""
    found = shutil.which("python3.11")
    if not found:
        raise RuntimeError("python3.11 is needed: it is the functions' runtime")
    answer = subprocess.run([found, "-I", "-S", "-c", "import sys; print(sys.executable)"],
                            capture_output=True, text=True, check=True)
    return answer.stdout.strip()


@dataclass
class Invocation:
    result: object = None
    error: dict | None = None
    logs: list[str] = field(default_factory=list)
    duration: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None


class Worker:
    """One container: a process serving one function's invocations."""

    def __init__(self, name: str, config: dict, task_root: Path, env: dict[str, str], hosts_file: Path | None,
                 files: list[tuple[Path, Path]] = ()):
        self.name = name
        self.config = config
        self.task_root = task_root
        self.timeout = float(config.get("Timeout", 3))
        read_fd, write_fd = os.pipe()
        script = mount_script(task_root, hosts_file, files)
        self.process = subprocess.Popen(
            ["unshare", "-m", "bash", "-c", script, "lambda-worker", python311(),
             str(Path(env["LAMBDA_RUNTIME_DIR"]) / "bootstrap.py"), str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, pass_fds=(write_fd,), start_new_session=True, text=True, bufsize=1,
        )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "r")
        self.lines: deque[str] = deque(maxlen=5000)
        self._collect: list[str] | None = None
        self._reader = threading.Thread(target=self._read_logs, daemon=True, name=f"logs-{name}")
        self._reader.start()
        self.init_error: dict | None = None
        first = self._result(timeout=max(self.timeout, 10.0))  # Lambda's init phase: up to 10 s
        if first is None:
            try:
                code = self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = "still running"
            self._reader.join(timeout=2)
            self.init_error = {"errorType": "Runtime.InitError",
                               "errorMessage": f"the function did not start (exit: {code}):\n"
                               + "\n".join(list(self.lines)[-30:])}
        elif "init_error" in first:
            self.init_error = first["init_error"]

    def _read_logs(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log_file = LOG_DIR / f"{self.name}.log"
        with open(log_file, "a") as sink:
            for line in self.process.stdout:
                line = line.rstrip("\n")
                self.lines.append(line)
                sink.write(line + "\n")
                sink.flush()
                if self._collect is not None:
                    self._collect.append(line)

    def note(self, line: str) -> None:
        """A line of the rehearsal's own in the function's log."""
        self.lines.append(line)
        with open(LOG_DIR / f"{self.name}.log", "a") as sink:
            sink.write(line + "\n")

    def _result(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.results], [], [], timeout)
        if not ready:
            return None
        line = self.results.readline()
        return json.loads(line) if line else None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.init_error is None

    def invoke(self, event, request_id: str) -> Invocation:
        invocation = Invocation()
        self._collect = invocation.logs
        started = time.monotonic()
        request = {"event": event, "request_id": request_id, "deadline": time.time() + self.timeout,
                   "invoked_function_arn": self.config["FunctionArn"]}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            answer = self._result(timeout=self.timeout)
        except (BrokenPipeError, ValueError):
            answer = None
        invocation.duration = time.monotonic() - started
        time.sleep(0.05)  # let the log reader catch up with the END line
        self._collect = None
        if answer is None:
            timed_out = self.process.poll() is None
            self.stop()
            invocation.error = {
                "errorType": "Sandbox.Timedout" if timed_out else "Runtime.ExitError",
                "errorMessage": (f"Task timed out after {self.timeout:.2f} seconds" if timed_out
                                 else f"the runtime exited (code {self.process.returncode})"),
            }
        elif "error" in answer:
            invocation.error = answer["error"]
        else:
            invocation.result = answer.get("result")
        return invocation

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)


def mount_script(task_root: Path, hosts_file: Path | None, files: list[tuple[Path, Path]] = ()) -> str:
    """Inside the new mount namespace: everything read-only but a fresh /tmp, `files` (source,
    target) mounted over their targets, then exec the interpreter with the environment it
    was given (and nothing the shell adds)."""
    top = sorted(p for p in os.listdir("/") if p not in NOT_READ_ONLY
                 and os.path.isdir(f"/{p}") and not os.path.islink(f"/{p}"))
    lines = ["set -e", "mount --make-rprivate /"]
    lines += [f"mount --bind -o ro /{p} /{p}" for p in top]
    lines.append("mount -t tmpfs -o size=512m,mode=1777 tmpfs /tmp")
    if hosts_file is not None:
        lines.append(f"mount --bind -o ro {shlex.quote(str(hosts_file))} /etc/hosts")
    lines += [f"mount --bind -o ro {shlex.quote(str(source))} {shlex.quote(str(target))}" for source, target in files]
    lines.append(f"cd {shlex.quote(str(task_root))}")
    # The bootstrap answers on fd 3 (the pipe's number in this shell is $3).
    lines.append('exec env -u PWD -u OLDPWD -u SHLVL -u _ "$1" -I -S "$2" 3>&"$3"')
    return "\n".join(lines)


class LambdaRuntime:
    # What Lambda itself sets in every function's environment (besides its configuration).
    RESERVED = frozenset({
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_EXECUTION_ENV", "AWS_REGION", "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
        "_HANDLER", "TZ", "LANG", "PATH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    })

    def __init__(self, world: AwsWorld, *, network_env: dict[str, str] | None = None,
                 hosts: dict[str, str] | None = None, extra_trust: dict[str, bytes] | None = None, log=print):
        check_isolation()
        self.world = world
        # CA bundles in the package (by file name) that get the rehearsal's stand-in CAs added.
        self.extra_trust = dict(extra_trust or {})
        self.network_env = dict(network_env or {})
        self.runtime_dir = runtime_dir(log=log)
        self.workers: dict[str, Worker] = {}
        self.failures: list[tuple[str, Invocation]] = []  # what went wrong, for the step that failed
        self.locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.hosts_file: Path | None = None
        CODE_DIR.mkdir(parents=True, exist_ok=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for old_log in LOG_DIR.glob("*.log"):  # each rehearsal's own logs only
            old_log.unlink()
        if hosts:
            self.set_hosts(hosts)

    def set_hosts(self, hosts: dict[str, str]) -> None:
        """Names the functions resolve through their /etc/hosts (the database's endpoint);
        workers started from now on see them."""
        self.hosts_file = FUNCTIONS_DIR / "hosts"
        base = Path("/etc/hosts").read_text()
        self.hosts_file.write_text(base + "".join(f"{ip} {host}\n" for host, ip in hosts.items()))

    def configuration(self, name: str) -> dict:
        return self.world.client("lambda").get_function_configuration(FunctionName=name)

    def environment(self, config: dict, keys, task_root: Path) -> dict[str, str]:
        """Exactly the function's configured variables, Lambda's reserved ones, the role's keys."""
        name = config["FunctionName"]
        env = dict((config.get("Environment") or {}).get("Variables") or {})
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(self.runtime_dir),
            "_HANDLER": config["Handler"],
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **keys.env(),
        })
        env.update(self.network_env)
        return env

    def task_root(self, name: str, config: dict) -> Path:
        """The function's unzipped package: one directory per code (the site and manage
        functions run the same zip), kept across rehearsals while the code is unchanged."""
        digest = hashlib.sha256(config["CodeSha256"].encode()).hexdigest()[:16]
        root = CODE_DIR / digest
        with self._guard:
            lock = self.locks.setdefault(f"code:{digest}", threading.Lock())
        with lock:
            if (root / ".unzipped").exists():
                return root
            # Keep a few codes (the workers' and the newest); older ones are never run again.
            in_use = {worker.task_root for worker in list(self.workers.values())}
            kept = sorted((d for d in CODE_DIR.glob("*") if d.is_dir()), key=lambda d: d.stat().st_mtime)[-KEPT_CODES:]
            for old in CODE_DIR.glob("*"):
                if old.is_dir() and old not in in_use and old not in kept:
                    shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            # In a process of its own: in this one (moto, the fronts, the network and the
            # sandbox share its interpreter lock) unzipping a site package took 15 s on a busy
            # machine, and a cold start past doctor's HTTP timeout.
            package = CODE_DIR / f"{digest}.zip"
            package.write_bytes(self.world.function_code(name))
            try:
                subprocess.run([sys.executable, "-m", "zipfile", "-e", str(package), str(root)], check=True,
                               capture_output=True)
            finally:
                package.unlink(missing_ok=True)
            (root / ".unzipped").touch()
        return root

    def prepare(self, name: str) -> None:
        """What Lambda does while a new function or new code is `Pending`: get the package
        ready, so the first invocation is a cold start, not an unzip (AwsFront calls it
        after CreateFunction and UpdateFunctionCode)."""
        try:
            self.task_root(name, self.configuration(name))
        except Exception:  # the invocation will say what is wrong
            pass

    def trust_mounts(self, root: Path) -> list[tuple[Path, Path]]:
        """(file with the stand-in CA added, the package's bundle it is mounted over) for each
        CA bundle in the package named in extra_trust. Mounted inside the worker's namespace,
        so the unzipped package stays as uploaded and is kept across rehearsals, each of
        which has a CA of its own (a bundle written into a kept package trusted an old one)."""
        mounts = []
        for file_name, pem in sorted(self.extra_trust.items()):
            for bundle in sorted(root.rglob(file_name)):
                combined = bundle.read_bytes().rstrip(b"\n") + b"\n" + pem
                target = TRUST_DIR / hashlib.sha256(combined).hexdigest()[:16] / file_name
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(combined)
                mounts.append((target, bundle))
        return mounts

    @staticmethod
    def fingerprint(config: dict) -> tuple:
        return tuple(json.dumps(config.get(k), sort_keys=True, default=str) for k in
                     ("CodeSha256", "RevisionId", "LastModified", "Environment", "Role", "Handler", "Timeout", "MemorySize"))

    def _worker(self, name: str) -> tuple[Worker, dict]:
        config = self.configuration(name)
        worker = self.workers.get(name)
        if worker is not None and (not worker.alive or self.fingerprint(worker.config) != self.fingerprint(config)):
            worker.stop()
            worker = None
        if worker is None:
            started = time.monotonic()
            root = self.task_root(name, config)
            unzipped = time.monotonic()
            keys = self.world.role_credentials(config["Role"], f"{name}-{uuid.uuid4().hex[:8]}")
            assumed = time.monotonic()
            worker = Worker(name, config, root, self.environment(config, keys, root), self.hosts_file,
                            self.trust_mounts(root))
            ready = time.monotonic()
            worker.note(f"(rehearsal) a new container for {name}: ready in {ready - started:.1f} s (package "
                        f"{unzipped - started:.1f} s, role {assumed - unzipped:.1f} s, init {ready - assumed:.1f} s)")
            self.workers[name] = worker
        return worker, config

    def invoke(self, name: str, event) -> Invocation:
        with self._guard:
            lock = self.locks.setdefault(name, threading.Lock())
        with lock:
            worker, _ = self._worker(name)
            if worker.init_error is not None:
                invocation = Invocation(error=worker.init_error, logs=list(worker.lines)[-50:])
                worker.stop()
                self.workers.pop(name, None)
                self.failures.append((name, invocation))
                return invocation
            invocation = worker.invoke(event, str(uuid.uuid4()))
            if invocation.failed:
                self.failures.append((name, invocation))
            return invocation

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.workers.clear()
