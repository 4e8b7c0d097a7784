"""Reading zappa_settings.json the way Zappa does (its own loader), for the deploy tests."""

from __future__ import annotations

import functools
import json
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
SETTINGS_FILE = BASE_DIR / "zappa_settings.json"
STAGES = ("dev", "prod")
KINDS = ("site", "webhook", "sender")


def raw() -> dict:
    return json.loads(SETTINGS_FILE.read_text())


@functools.cache
def load(stage_name: str):
    """A ZappaCLI with `stage_name` loaded by Zappa's own load_settings (no AWS call).

    Cached: Zappa's constructor makes a dozen boto3 clients (about a second); tests only read it."""
    import boto3
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage_name
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-central-1")
    cli.load_settings(settings_file=str(SETTINGS_FILE), session=session)
    return cli


def environment(stage: str) -> dict[str, str]:
    return load(f"{stage}_site").stage_config["aws_environment_variables"]
