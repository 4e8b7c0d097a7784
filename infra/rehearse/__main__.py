"""
`make rehearse` (`python -m infra.rehearse`): deploy a whole `dev` stage on this machine
the documented way, then walk through it as its users would. One line per step; the first
step that fails stops the rehearsal, says what failed, and the exit status is 1.

Options: --stage dev, --only-deploy (stop after the documented blocks), --keep (leave the
stage running until Ctrl-C, to look around), --block-timeout SECONDS.
Logs: var/rehearse/logs/ (each block's output), var/rehearse/logs/functions/<name>.log.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from infra.rehearse import docs_blocks, journey
from infra.rehearse.journey import StepFailed
from infra.rehearse.stage import BASE_DIR, WORK_DIR, Stage


class Steps:
    def __init__(self, stage: Stage | None = None):
        self.started = time.monotonic()
        self.count = 0
        self.stage = stage

    def run(self, name: str, action) -> object:
        self.count += 1
        began = time.monotonic()
        marks = self.stage.marks() if self.stage is not None and hasattr(self.stage, "apigw") else None
        try:
            detail = action()
        except StepFailed as exc:
            self.fail(name, str(exc) + self.behind(marks), began)
        except Exception as exc:  # a bug of the rehearsal or an unexpected answer: say which
            self.fail(name, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}" + self.behind(marks), began)
        print(f"ok   {self.count:2}. {name} ({time.monotonic() - began:.1f} s)"
              + (f": {detail}" if isinstance(detail, str) and detail else ""), flush=True)
        return detail

    def behind(self, marks) -> str:
        """What the functions, API Gateway and the event source said meanwhile."""
        if marks is None:
            return ""
        lines = self.stage.diagnostics(marks)
        return ("\n     behind it:\n        " + "\n        ".join(lines)) if lines else ""

    def fail(self, name: str, reason: str, began: float) -> None:
        print(f"FAIL {self.count:2}. {name} ({time.monotonic() - began:.1f} s): {reason}", flush=True)
        raise SystemExit(1)


def tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n        ".join([""] + kept[-lines:])


def deploy(stage: Stage, steps: Steps, timeout: float) -> None:
    blocks, marked = docs_blocks.blocks_of(BASE_DIR / "docs" / "DEPLOY.md")
    if not marked:
        print("     (docs/DEPLOY.md marks no block: running the quick path's commands)", flush=True)
    env = stage.operator_env()
    for block in blocks:
        def run(block=block):
            result = docs_blocks.run_block(block, cwd=BASE_DIR, env=env, answers=stage.answers(), timeout=timeout,
                                           log_file=WORK_DIR / "logs" / f"block-{block.name}.log")
            if not result.ok:
                raise StepFailed(f"docs/DEPLOY.md line {block.line}, block `{block.name}`: {result.reason}"
                                 + tail(result.output))
            return ""

        steps.run(f"docs block `{block.name}`", run)
        if block.name == "stack" and not stage.rds.host:
            steps.run("RDS instance (a fresh PostgreSQL cluster)", stage.start_database)
            # By hand on AWS (docs/DEPLOY.md, step 1 and "DNS"): validation records, the mail's link.
            steps.run("by hand: DNS validation records, the alarm mail's link", stage.by_hand_after_the_stack)


def hold_the_lock():
    """One rehearsal per checkout: they share var/rehearse/, var/packages/ and the database
    address. A second one stops at once instead of breaking the first."""
    import fcntl

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    handle = open(WORK_DIR / ".lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        raise SystemExit(f"another rehearsal is running in this checkout (pid {handle.read().strip() or '?'}); "
                         "wait for it or stop it")
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.rehearse", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--only-deploy", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--block-timeout", type=float, default=600)
    args = parser.parse_args(argv)

    lock = hold_the_lock()
    stage = Stage(args.stage)
    steps = Steps(stage)
    try:
        steps.run("the stage's world: moto (IAM enforced), network, Lambda runtime, Telegram",
                  lambda: (stage.start(), f"AWS at {stage.aws_endpoint}")[1])
        deploy(stage, steps, args.block_timeout)
        if not args.only_deploy:
            journey.walk(stage, steps)
        print(f"rehearsal passed: {steps.count} steps in {time.monotonic() - steps.started:.0f} s", flush=True)
        if args.keep:
            print("the stage keeps running; Ctrl-C stops it", flush=True)
            while True:
                time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        stage.stop()


if __name__ == "__main__":
    sys.exit(main())
