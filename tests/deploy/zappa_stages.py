"""
A stage's Zappa settings as the deploy tests see them: rendered by infra.stages from the
stage's file and stack outputs shaped like the ones moto's stack gives, then read by Zappa's
own loader.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
ROOT_SETTINGS = BASE_DIR / "zappa_settings.json"
STAGES = ("dev", "prod")
KINDS = ("site", "webhook", "sender", "manage")
ACCOUNT = "123456789012"


def raw() -> dict:
    return json.loads(ROOT_SETTINGS.read_text())


def outputs(stage: str, region: str = "eu-central-1") -> dict[str, str]:
    """What `python -m infra.stages stack <stage>` reads from the stack (as moto makes it)."""
    arn = f"arn:aws:{{}}:{region}:{ACCOUNT}:{{}}"
    return {
        "AccountId": ACCOUNT, "Region": region,
        "OutboxQueueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/meetups-{stage}-outbox",
        "OutboxDeadLetterQueueUrl": f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/meetups-{stage}-outbox-dlq",
        "OutboxQueueArn": arn.format("sqs", f"meetups-{stage}-outbox"),
        "SecretName": f"meetups/{stage}", "BotTokenSecretName": f"meetups/{stage}/bot-token",
        **{f"{k.capitalize()}RoleArn": f"arn:aws:iam::{ACCOUNT}:role/meetups-{stage}-{k}" for k in KINDS},
        "FunctionSubnetIds": "subnet-aaaa,subnet-bbbb", "FunctionSecurityGroupId": "sg-1234",
        "DatabaseHost": f"meetups-{stage}.abc.{region}.rds.amazonaws.com", "DatabasePort": "5432",
        "DatabaseAdminSecretArn": arn.format("secretsmanager", f"secret:meetups/{stage}/database-admin-AbCdEf"),
    }


@functools.cache
def settings_file(stage: str) -> Path:
    from infra.stages import config, render

    directory = Path(tempfile.mkdtemp(prefix=f"zappa-{stage}-"))
    path = directory / "zappa_settings.json"
    path.write_text(json.dumps(render.render(config.load(stage), outputs(stage)), indent=2))
    return path


def rendered(stage: str) -> dict:
    return json.loads(settings_file(stage).read_text())


@functools.cache
def load(stage_name: str):
    """A ZappaCLI with `stage_name` loaded by Zappa's own load_settings from the rendered file.

    Cached: Zappa's constructor makes a dozen boto3 clients (about a second); tests only read it."""
    import boto3
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage_name
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-central-1")
    cli.load_settings(settings_file=str(settings_file(stage_name.split("_")[0])), session=session)
    return cli


def environment(stage: str) -> dict[str, str]:
    return load(f"{stage}_site").stage_config["aws_environment_variables"]
