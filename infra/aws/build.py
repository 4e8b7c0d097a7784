"""
Build steps Zappa runs before it packages the site (`prebuild_script` in zappa_settings.json).

Lambda's file system is read-only, so the site cannot collect its static files at run
time: they are collected here, into STATIC_ROOT (`staticfiles/`), and travel in the package,
where WhiteNoise serves them. Deployed stages use WhiteNoise's compressed manifest storage
(hashed names, far-future caching), which needs the manifest that only a collectstatic run
with that same storage writes; `infra.aws.static_settings` is the local settings with that
one storage swapped in, so the build needs none of the stage's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def collect_static() -> None:
    env = {
        **os.environ,
        # Whatever stage the operator's shell is set up for, collecting needs none of it.
        "STAGE": "local",
        "DJANGO_SETTINGS_MODULE": "infra.aws.static_settings",
    }
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "collectstatic", "--noinput", "--clear", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )


if __name__ == "__main__":
    collect_static()
