"""
The documented deploy path, read from docs/DEPLOY.md and run as an operator would run it.

Contract C10: deploy-ops writes each rehearsed command block as a fenced `sh` block with
`<!-- rehearsed: NAME -->` on the line before it; the rehearsal runs exactly those blocks, in
the order of the document, each in `bash -euo pipefail` from the project directory, with
the operator's AWS credentials and `AWS_ENDPOINT_URL` pointed at the rehearsal's AWS.
While the document marks none, the quick path's first `sh` block is run instead (today's
commands), so the machinery runs from the start.

Commands that ask for a secret (put_bot_token and friends read a hidden prompt when stdin
is a terminal) run in a pseudo-terminal, and the rehearsal types the answer when it sees a
prompt it knows, as an operator pastes from a password manager. A block that waits for an
input nobody expects, or runs longer than its time limit, fails with what it printed last.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"^<!--\s*rehearsed:\s*(?P<name>[A-Za-z0-9_.-]+)\s*-->\s*$")
FENCE_OPEN = re.compile(r"^```(sh|bash|shell)\s*$")


@dataclass(frozen=True)
class Block:
    name: str
    code: str
    line: int  # where it starts in the document


class DocsError(Exception):
    pass


def extract(text: str) -> list[Block]:
    """Every `<!-- rehearsed: NAME -->` + fenced sh block, in order; names must be unique."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        marker = MARKER.match(lines[index].strip())
        if not marker:
            index += 1
            continue
        start = index + 1
        if start >= len(lines) or not FENCE_OPEN.match(lines[start].strip()):
            raise DocsError(f"line {index + 1}: <!-- rehearsed: {marker['name']} --> is not followed by a ```sh block")
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end >= len(lines):
            raise DocsError(f"line {start + 1}: the block {marker['name']} is never closed")
        if any(b.name == marker["name"] for b in blocks):
            raise DocsError(f"line {index + 1}: two blocks are named {marker['name']}")
        blocks.append(Block(marker["name"], "\n".join(lines[start + 1:end]) + "\n", start + 2))
        index = end + 1
    return blocks


def quick_path(text: str) -> list[Block]:
    """Today's commands: the first sh block after the quick-path heading."""
    lines = text.splitlines()
    heading = next((i for i, l in enumerate(lines) if l.startswith("## From nothing")), None)
    if heading is None:
        raise DocsError("docs/DEPLOY.md has neither rehearsed blocks nor a 'From nothing' quick path")
    start = next((i for i in range(heading, len(lines)) if FENCE_OPEN.match(lines[i].strip())), None)
    if start is None:
        raise DocsError("the quick path has no sh block")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "```")
    return [Block("quick-path", "\n".join(lines[start + 1:end]) + "\n", start + 2)]


def blocks_of(path: Path) -> tuple[list[Block], bool]:
    """(blocks to run, whether they are the marked ones)."""
    text = path.read_text()
    marked = extract(text)
    return (marked, True) if marked else (quick_path(text), False)


@dataclass
class BlockResult:
    ok: bool
    output: str
    reason: str = ""


def run_block(block: Block, *, cwd: Path, env: dict[str, str], answers: dict[str, str],
              timeout: float, log_file: Path) -> BlockResult:
    """Run one block in a pseudo-terminal, typing `answers[prompt fragment]` at prompts."""
    script = "set -euo pipefail\n" + block.code
    primary, secondary = pty.openpty()
    process = subprocess.Popen(["bash", "-c", script], cwd=cwd, env=env, stdin=secondary, stdout=secondary,
                               stderr=secondary, start_new_session=True, close_fds=True)
    os.close(secondary)
    output = bytearray()
    answered_at = 0
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    reason = ""
    try:
        while True:
            if time.monotonic() > deadline:
                reason = f"still running after {timeout:.0f} s"
                break
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                output.extend(chunk)
                idle_since = time.monotonic()
                pending = output[answered_at:].decode("utf-8", "replace").splitlines()
                for fragment, value in answers.items():
                    if pending and fragment in pending[-1]:
                        os.write(primary, value.encode() + b"\n")
                        answered_at = len(output)
                        break
            elif process.poll() is not None:
                break
            elif time.monotonic() - idle_since > 15 and output and not output.endswith(b"\n") \
                    and len(output) > answered_at:
                # A line left open and nothing since: a prompt nobody answers.
                last = output.decode("utf-8", "replace").splitlines()[-1]
                reason = f"waits for input nobody expects: {last[-200:]!r}"
                break
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        process.wait()
        os.close(primary)
    text = output.decode("utf-8", "replace").replace("\r\n", "\n")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(text)
    if reason:
        return BlockResult(False, text, reason)
    if process.returncode != 0:
        return BlockResult(False, text, f"exit status {process.returncode}")
    return BlockResult(True, text)
