"""
A stage's Zappa settings, derived: zappa_settings.json (what every stage shares, per kind of
function) + infra/stages/<stage>.toml (what the operator chose) + the stack's outputs (what
AWS assigned). Written to var/stages/<stage>/zappa_settings.json (under $STAGE_SETTINGS_DIR
when set), which every Zappa command of the stage takes with `-s`; nothing in it is typed by hand, and nothing in it is secret.

The root zappa_settings.json is kept by kind ("site", "webhook", "sender", "manage") rather
than by stage, so nothing in it is specific to an account or a stage; its keys mean what
Zappa says they mean, and `extends` works as in Zappa (a key replaces the parent's whole).
The rendered file has exactly one stage's four functions, <stage>_site, <stage>_webhook,
<stage>_sender and <stage>_manage, so `zappa ... --all -s <file>` is exactly that stage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from infra.stages.config import BASE_DIR, KINDS, PROJECT_NAME, StageConfig

ROOT_SETTINGS = BASE_DIR / "zappa_settings.json"

# Which stack output is each kind's role.
ROLE_OUTPUT = {"site": "SiteRoleArn", "webhook": "WebhookRoleArn", "sender": "SenderRoleArn", "manage": "ManageRoleArn"}
# Stack outputs every render needs.
REQUIRED_OUTPUTS = (
    "AccountId", "OutboxQueueUrl", "OutboxDeadLetterQueueUrl", "SecretName", "BotTokenSecretName",
    "FunctionSubnetIds", "FunctionSecurityGroupId", "DatabaseHost", "DatabasePort", "DatabaseAdminSecretArn",
    *ROLE_OUTPUT.values(),
)


def stage_dir(stage: str) -> Path:
    # STAGE_SETTINGS_DIR moves the rendered settings elsewhere (tests, a second checkout);
    # infra/aws/operator_settings.py reads them from the same place.
    base = os.environ.get("STAGE_SETTINGS_DIR")
    return (Path(base) if base else BASE_DIR / "var" / "stages") / stage


def settings_path(stage: str) -> Path:
    return stage_dir(stage) / "zappa_settings.json"


def shown(path: Path) -> str:
    """A path as the operator types it: relative to the checkout when inside it."""
    return str(path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path)


def outputs_path(stage: str) -> Path:
    return stage_dir(stage) / "outputs.json"


def _kind(root: dict, kind: str) -> dict:
    entry = dict(root[kind])
    parent = entry.pop("extends", None)
    return {**_kind(root, parent), **entry} if parent else entry


def environment(config: StageConfig, outputs: dict[str, str]) -> dict[str, str]:
    """What every function of the stage (and the operator commands) runs with."""
    return {
        "STAGE": config.stage,
        "SITE_DOMAIN": config.domain,
        "SECRETS_BACKEND": "aws",
        "SECRETS_NAME": outputs["SecretName"],
        "BOT_TOKEN_SECRET_NAME": outputs["BotTokenSecretName"],
        "OUTBOX_QUEUE_URL": outputs["OutboxQueueUrl"],
        "OUTBOX_DLQ_URL": outputs["OutboxDeadLetterQueueUrl"],
        "SENDER_MAX_CONCURRENCY": str(config.sizes.sender_max_concurrency),
        "TELEGRAM_BOT_ID": config.bot_id,
        "TELEGRAM_BOT_USERNAME": config.bot_username.lstrip("@"),
        "TELEGRAM_WEBHOOK_URL": config.webhook_url,
        "TELEGRAM_LOGIN_FLOWS": config.login_flows,
        "EMAIL_DELIVERY": "ses",
        "DEFAULT_FROM_EMAIL": config.from_email,
        "LOG_LEVEL": "INFO",
    }


def render(config: StageConfig, outputs: dict[str, str]) -> dict:
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise ValueError(f"The stack {config.stack_name} has no outputs {', '.join(missing)}: deploy it first.")
    root = json.loads(ROOT_SETTINGS.read_text())
    env = environment(config, outputs)
    sizes = config.sizes
    per_kind = {
        "site": {"memory_size": sizes.site_memory_mb, "lambda_concurrency": sizes.site_concurrency},
        "webhook": {"memory_size": sizes.webhook_memory_mb, "lambda_concurrency": sizes.webhook_concurrency},
        # No reserved concurrency: its event source's MaximumConcurrency bounds it (throttled
        # invocations would count receives towards the dead-letter queue).
        "sender": {"memory_size": sizes.sender_memory_mb},
        # One at a time: two migrations must never run together.
        "manage": {"memory_size": sizes.site_memory_mb, "lambda_concurrency": 1},
    }
    manage_env = {
        # create_database: where the database is and who its master user is.
        "DATABASE_HOST": outputs["DatabaseHost"],
        "DATABASE_PORT": str(outputs["DatabasePort"]),
        "DATABASE_ADMIN_SECRET": outputs["DatabaseAdminSecretArn"],
    }
    rendered = {}
    for kind in KINDS:
        entry = _kind(root, kind)
        entry.update(per_kind[kind])
        entry.update({
            "aws_region": config.region,
            "s3_bucket": f"{PROJECT_NAME}-{config.stage}-zappa-{outputs['AccountId']}",
            "role_arn": outputs[ROLE_OUTPUT[kind]],
            "vpc_config": {
                "SubnetIds": outputs["FunctionSubnetIds"].split(","),
                "SecurityGroupIds": [outputs["FunctionSecurityGroupId"]],
            },
            # Zappa's WSGI handler sets STAGE to its own stage name (dev_site), then applies
            # these: the project's stage comes back.
            "environment_variables": {"STAGE": config.stage},
            "aws_environment_variables": {**env, **(manage_env if kind == "manage" else {})},
            "tags": {"project": PROJECT_NAME, "stage": config.stage},
        })
        rendered[config.zappa_stage(kind)] = entry
    return rendered


def write(config: StageConfig, outputs: dict[str, str]) -> Path:
    settings = render(config, outputs)
    path = settings_path(config.stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    outputs_path(config.stage).write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return path
