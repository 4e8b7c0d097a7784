"""A fresh `git worktree` of a commit, so a benchmark can measure the code as it was ("before")
again at any time, beside the code as it is. Used by bench.webhook and bench.button_press."""

from __future__ import annotations

import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def short(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


@contextmanager
def worktree(rev: str):
    """A detached worktree of `rev` in a temporary directory, removed afterwards."""
    path = tempfile.mkdtemp(prefix="bench-worktree-")
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", path, rev], cwd=ROOT, check=True)
    try:
        yield Path(path)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", path], cwd=ROOT, check=False)
