"""
A process started with exactly the environment the dev stage's rendered Zappa settings give
its functions (infra.stages: infra/stages/dev.toml, zappa_settings.json and the stack's
outputs; plus what Lambda adds) reads its two secrets from Secrets Manager, takes its
database URL from the stage secret, refuses to run with the prod bot's token (the
`check --deploy --tag telegram` step of docs/DEPLOY.md too), and the webhook works without
the bot-token secret, which its role may not read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from . import zappa_stages
from .zappa_stages import BASE_DIR

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

READ_TOKEN = (
    "import django; django.setup()\n"
    "from django.conf import settings\n"
    "from project.core.secrets import bot_token\n"
    "bot_token()\n"
    "print('ok', settings.STAGE, settings.TELEGRAM_BOT_ID, settings.SITE_DOMAIN)\n"
)


def _stage_process(moto_server: str, tmp_path, *, database_url: str | None = None) -> dict[str, str]:
    """Exactly the dev stage's environment from its rendered Zappa settings, and what Lambda adds."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        **zappa_stages.environment("dev"),
        "AWS_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    assert "DATABASE_URL" not in env  # the stage secret carries it
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture
def dev_secret(moto_server, tmp_path):
    import httpx

    from project.core.aws import client, reset_clients

    httpx.post(f"{moto_server}/moto-api/reset")
    reset_clients()
    env = zappa_stages.environment("dev")
    sm = client("secretsmanager")
    sm.create_secret(Name=env["SECRETS_NAME"])
    sm.create_secret(Name=env["BOT_TOKEN_SECRET_NAME"])
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"  # stands in for RDS: any URL this test can reach

    def run_with_token(token: str, code: str = READ_TOKEN) -> subprocess.CompletedProcess:
        sm.put_secret_value(SecretId=env["SECRETS_NAME"], SecretString=json.dumps(
            {"telegram_webhook_secret": "w" * 40, "django_secret_key": "k" * 50, "database_url": database_url}))
        sm.put_secret_value(SecretId=env["BOT_TOKEN_SECRET_NAME"], SecretString=json.dumps({"telegram_bot_token": token}))
        return subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=_stage_process(moto_server, tmp_path),
                              capture_output=True, text=True, timeout=60)

    run_with_token.database_url = database_url
    yield run_with_token
    reset_clients()


def test_the_dev_stage_refuses_the_prod_token(dev_secret):
    dev_id = zappa_stages.environment("dev")["TELEGRAM_BOT_ID"]
    prod_id = zappa_stages.environment("prod")["TELEGRAM_BOT_ID"]
    prod_token = f"{prod_id}:AAH-prod-token-for-this-test-not-a-secret-0"

    refused = dev_secret(prod_token)
    assert refused.returncode != 0
    assert "ForeignBotToken" in refused.stderr
    assert f"for bot {prod_id}" in refused.stderr and f"configured for bot {dev_id}" in refused.stderr
    assert prod_token not in refused.stderr + refused.stdout

    accepted = dev_secret(f"{dev_id}:AAH-dev-token-for-this-test-not-a-secret-00")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.split() == ["ok", "dev", dev_id, "dev.meetups.example.com"]


def test_the_database_url_comes_from_the_stage_secret(dev_secret):
    dev_id = zappa_stages.environment("dev")["TELEGRAM_BOT_ID"]
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from project.core import secrets\n"
        "print(settings.DATABASES['default']['NAME'])\n"
        "print(sorted(secrets._cache))\n"  # which secrets start-up read: not the bot token's
    )
    answer = dev_secret(f"{dev_id}:AAH-dev-token-for-this-test-not-a-secret-00", code)
    assert answer.returncode == 0, answer.stderr
    name, loaded = answer.stdout.splitlines()
    assert name == dev_secret.database_url.split("sqlite:///", 1)[1]
    assert loaded == "['SECRETS_NAME']"


CHECK_DEPLOY = (
    "import sys; from django.core.management import execute_from_command_line\n"
    "execute_from_command_line(['manage.py', 'check', '--deploy', '--tag', 'telegram'])\n"
)


def test_check_deploy_stops_a_site_with_a_foreign_token(dev_secret):
    """docs/DEPLOY.md: `zappa manage dev_site "check --deploy --tag telegram"` after put_bot_token."""
    dev_id = zappa_stages.environment("dev")["TELEGRAM_BOT_ID"]
    prod_id = zappa_stages.environment("prod")["TELEGRAM_BOT_ID"]
    prod_token = f"{prod_id}:AAH-prod-token-for-this-test-not-a-secret-0"

    refused = dev_secret(prod_token, CHECK_DEPLOY)
    assert refused.returncode != 0
    assert "telegram_accounts.E001" in refused.stderr and f"for bot {prod_id}" in refused.stderr
    assert prod_token not in refused.stderr + refused.stdout

    accepted = dev_secret(f"{dev_id}:AAH-dev-token-for-this-test-not-a-secret-00", CHECK_DEPLOY)
    assert accepted.returncode == 0, accepted.stderr
    assert "no issues" in accepted.stdout


def test_the_webhook_works_without_the_bot_token_secret(aws, stage_secret, full_secret, db, settings):
    """What the webhook's role sees: the bot-token secret is out of reach (moto enforces no
    IAM, so here it does not exist). An update is still accepted, stored and handled."""
    from handlers.webhook import handler

    from project.bot.models import StoredUpdate
    from project.core import secrets
    from tests.bot.conftest import message_update, webhook_event

    aws.client("secretsmanager").delete_secret(SecretId=stage_secret.bot_token_name, ForceDeleteWithoutRecovery=True)
    secrets.reset_cache()
    update = message_update(31337, "/help", update_id=990001)
    answer = handler(webhook_event(update, secret=full_secret["telegram_webhook_secret"]), None)
    assert answer["statusCode"] == 200, answer
    assert StoredUpdate.objects.filter(update_id=990001).exists()
    assert "BOT_TOKEN_SECRET_NAME" not in secrets._cache


def test_the_operator_commands_run_with_the_rendered_stage_settings(moto_server, sandbox, tmp_path, monkeypatch):
    """What docs/DEPLOY.md tells the operator to type, against the dev stack in moto: the
    stack deployed by infra.stages (which makes both secrets, empty, and writes the stage's
    Zappa settings), then the operator commands with infra.aws.operator_settings, which
    read those rendered settings from the same STAGE_SETTINGS_DIR."""
    import httpx

    from infra.local import moto_cfn
    from infra.stages import render
    from project.core.aws import client, reset_clients

    from .test_stack import _deploy

    stages_dir = tmp_path / "stages"
    monkeypatch.setenv("STAGE_SETTINGS_DIR", str(stages_dir))
    moto_cfn.install()
    httpx.post(f"{moto_server}/moto-api/reset")
    reset_clients()
    outputs = _deploy("dev")
    assert render.settings_path("dev") == stages_dir / "dev" / "zappa_settings.json"
    rendered = json.loads(render.settings_path("dev").read_text())
    assert rendered["dev_site"]["aws_environment_variables"]["SECRETS_NAME"] == outputs["SecretName"] == "meetups/dev"
    for name in (outputs["SecretName"], outputs["BotTokenSecretName"]):  # made by the stack, without a value
        assert client("secretsmanager").describe_secret(SecretId=name)["Name"] == name

    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "STAGE": "dev",
        "STAGE_SETTINGS_DIR": str(stages_dir),
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # The sandbox plays Telegram, with its own bot standing in for dev's.
        "TELEGRAM_API_BASE_URL": sandbox.url,
        "TELEGRAM_BOT_ID": "7000000001",
        "TELEGRAM_BOT_USERNAME": "site_local_bot",
    }
    manage = [sys.executable, "manage.py"]
    put = subprocess.run([*manage, "put_bot_token", "--settings=infra.aws.operator_settings"], cwd=BASE_DIR, env=env,
                         input="7000000001:AAH-local-sandbox-token-not-a-secret-0001\n", capture_output=True, text=True,
                         timeout=120)
    assert put.returncode == 0, put.stderr
    assert "written to the bot-token secret 'meetups/dev/bot-token'" in put.stdout
    values = json.loads(client("secretsmanager").get_secret_value(SecretId="meetups/dev")["SecretString"])
    assert sorted(values) == ["django_secret_key", "telegram_webhook_secret"]
    token = json.loads(client("secretsmanager").get_secret_value(SecretId="meetups/dev/bot-token")["SecretString"])
    assert sorted(token) == ["telegram_bot_token"]

    doctor = subprocess.run([*manage, "doctor", "--settings=infra.aws.operator_settings", "--skip", "webhook-secret",
                             "--skip", "site"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert doctor.returncode != 0
    out = doctor.stdout
    assert "ok       stage: stage dev, bot 7000000001" in out
    (lacks,) = [line for line in out.splitlines() if "lacks" in line]
    assert lacks.startswith("PROBLEM  secret: The stage secret 'meetups/dev' lacks telegram_oidc_client_secret")
    # The rendered settings give the functions no DATABASE_URL: they need it from the secret.
    # The command the operator types, with the rendered settings Zappa needs for this stage.
    assert ("database_url (run zappa invoke dev_manage project.ops.database_setup.handler "
            "-s var/stages/dev/zappa_settings.json (it creates the database") in lacks
    assert "ok       bot token" in out and "ok       getMe" in out
    assert "PROBLEM  webhook: No webhook is registered" in out and "tg.dev.meetups.example.com" in out
    assert "PROBLEM  sender: There is no function meetups-dev-sender" in out
    assert "ok       dead letters: The dead-letter queue is empty." in out
    assert token["telegram_bot_token"] not in out + doctor.stderr


def test_the_operator_settings_name_the_missing_rendered_settings(tmp_path):
    """A fresh checkout (or the wrong STAGE_SETTINGS_DIR): the command says what to run."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "STAGE": "dev",
           "STAGE_SETTINGS_DIR": str(tmp_path / "nowhere")}
    answer = subprocess.run([sys.executable, "manage.py", "doctor", "--settings=infra.aws.operator_settings"],
                            cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode != 0
    assert f"No {tmp_path / 'nowhere' / 'dev' / 'zappa_settings.json'}" in answer.stderr
    assert "python -m infra.stages settings dev" in answer.stderr


RECORD_AWS_CALLS_AND_SEND_MAIL = (
    # botocore's event hooks on every client this process makes (django-ses makes its own
    # session and client): each API call, by service and operation, as it leaves.
    "import json, botocore.session\n"
    "calls = []\n"
    "_create_client = botocore.session.Session.create_client\n"
    "def create_client(self, *args, **kwargs):\n"
    "    made = _create_client(self, *args, **kwargs)\n"
    "    service = made.meta.service_model.service_id\n"
    "    made.meta.events.register('before-call', lambda model, **_: calls.append(f'{service}:{model.name}'))\n"
    "    return made\n"
    "botocore.session.Session.create_client = create_client\n"
    "import django; django.setup()\n"
    "from django.conf import settings\n"
    "from django.core.mail import send_mail\n"
    "for n in range(2):\n"
    "    send_mail(f'Sign in {n}', 'Your sign-in link', None, ['person@example.org'])\n"
    "print(settings.EMAIL_BACKEND)\n"
    "print(json.dumps(calls))\n"
)


def test_mail_on_a_deployed_stage_never_asks_ses_for_its_quota(dev_secret, moto_server):
    """Issue 10 fix 3: no role may call ses:GetSendQuota (infra/aws/stack.yaml grants sending
    only), and django-ses calls it before every send unless its auto throttle is off. The dev
    stage's own environment and settings, sending through moto's SES; every AWS call the
    process makes is recorded by botocore's event hooks."""
    from moto.ses.models import ses_backends

    from project.core.aws import client

    client("ses").verify_domain_identity(Domain="dev.meetups.example.com")  # the stack's identity
    before = len(ses_backends["123456789012"]["eu-central-1"].sent_messages)
    dev_id = zappa_stages.environment("dev")["TELEGRAM_BOT_ID"]
    answer = dev_secret(f"{dev_id}:AAH-dev-token-for-this-test-not-a-secret-00", RECORD_AWS_CALLS_AND_SEND_MAIL)
    assert answer.returncode == 0, answer.stderr
    backend, calls = answer.stdout.splitlines()[-2:]
    calls = json.loads(calls)
    assert backend == "project.core.aws_mail.SESBackend"
    sends = [c for c in calls if c in ("SES:SendRawEmail", "SESv2:SendEmail", "SES:SendEmail")]
    assert len(sends) == 2, calls
    assert not [c for c in calls if c.endswith(":GetSendQuota")], calls
    assert len(ses_backends["123456789012"]["eu-central-1"].sent_messages) == before + 2  # moto took both
