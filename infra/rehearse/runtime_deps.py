"""
The runtime directory: what Lambda's python3.11 runtime provides besides the package.

On Lambda, /var/runtime holds the runtime interface client and the AWS SDK it ships; the
functions' packages leave boto3 and its dependencies out (zappa_settings.json) and use that
one. So the rehearsal runs every function against the same SDK version Lambda's runtime has,
not the newer one in .venv: code that needs a newer botocore fails here as it would there.

The pin is the SDK version AWS lists for the python3.11 runtime ("Runtime-included SDK
versions" in the Lambda developer guide, "Building Lambda functions with Python"). AWS
updates it with the runtime; check that page when a release depends on a newer boto3
feature, and move this pin with it.

Installed once from PyPI into ~/.cache/meetups-rehearsal/<checkout>/lambda-runtime/<hash of the pins>/ with pip
(`--target`, wheels only, no dependencies resolved beyond these pins), plus bootstrap.py.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
RUNTIME_SDK = (
    "boto3==1.34.145",
    "botocore==1.34.145",
    "s3transfer==0.10.2",
    "jmespath==1.0.1",
    "python-dateutil==2.9.0.post0",
    "six==1.16.0",
    "urllib3==1.26.19",
)
# What the functions' workers see lives outside the checkout, and never under /tmp (each
# worker gets a fresh /tmp of its own, which would hide it): a checkout may be anywhere.
LAMBDA_ROOT = (Path.home() / ".cache" / "meetups-rehearsal"
               / hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:10])
ROOT = LAMBDA_ROOT / "lambda-runtime"


def runtime_dir(*, log=print) -> Path:
    """The runtime directory (installed on first use), with bootstrap.py in it."""
    key = hashlib.sha256(" ".join(RUNTIME_SDK).encode()).hexdigest()[:12]
    target = ROOT / key
    if not (target / ".complete").exists():
        if target.exists():
            shutil.rmtree(target)
        log(f"installing Lambda's runtime SDK ({', '.join(RUNTIME_SDK[:2])}) into {target} ...")
        answer = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary=:all:", "--no-compile", "--target", str(target), *RUNTIME_SDK],
            capture_output=True, text=True,
        )
        if answer.returncode != 0:
            raise RuntimeError(f"could not install the runtime SDK: {answer.stderr[-2000:]}")
        shutil.rmtree(target / "bin", ignore_errors=True)
        (target / ".complete").touch()
    # Always the current bootstrap (it is part of this repository, not of the pinned SDK).
    shutil.copy(Path(__file__).with_name("bootstrap.py"), target / "bootstrap.py")
    return target
