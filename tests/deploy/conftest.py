"""
A deployed stage as the operator commands see it, in moto and the Telegram sandbox: the
stage's two secrets in Secrets Manager (SECRETS_BACKEND=aws; the bot token in a secret of
its own), the outbox queues, the webhook and
sender functions in Lambda (stand-ins: nothing runs them, the commands only configure
them), the sender's event source mapping as Zappa creates it (disabled), and the real
webhook handler behind the local gateway, which the sandbox delivers to.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

FOREIGN_BOT_TOKEN = "7000000002:AAH-foreign-sandbox-token-not-a-secret-02"
SENDER_TIMEOUT = 10  # the aws fixture's queue has a 60 s visibility timeout (6 x 10)


class StageSecrets(str):
    """The stage secret's name (a str, as most tests only need that), and the bot token's."""

    bot_token_name: str

    def __new__(cls, name: str, bot_token_name: str):
        self = super().__new__(cls, name)
        self.bot_token_name = bot_token_name
        return self


@pytest.fixture
def stage_secret(aws, settings):
    """The stage's two secrets as the stack creates them: existing, without any value."""
    from project.core import secrets

    name, token_name = "meetups/test", "meetups/test/bot-token"
    for secret in (name, token_name):
        aws.client("secretsmanager").create_secret(Name=secret, Description="as infra/aws/stack.yaml makes it")
    settings.SECRETS_BACKEND = "aws"
    settings.SECRETS_NAME = name
    settings.BOT_TOKEN_SECRET_NAME = token_name
    # What zappa_settings.json gives the functions: no DATABASE_URL (the stage secret has it).
    settings.OPS_FUNCTIONS_HAVE_DATABASE_URL = False
    secrets.reset_cache()
    return StageSecrets(name, token_name)


def read_secret(aws, name: str) -> dict:
    return json.loads(aws.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def versions(aws, name: str) -> list:
    """The secret's versions by id and stage (their dates move when they are read)."""
    answer = aws.client("secretsmanager").list_secret_version_ids(SecretId=name)["Versions"]
    return sorted((v["VersionId"], tuple(sorted(v.get("VersionStages", [])))) for v in answer)


def write_secret(aws, name: str, values: dict) -> None:
    """Write one secret exactly as given (a test of what is misplaced may need that)."""
    from project.core import secrets

    aws.client("secretsmanager").put_secret_value(SecretId=name, SecretString=json.dumps(values))
    secrets.reset_cache()


def write_secrets(aws, stage: StageSecrets, values: dict) -> None:
    """Write the stage's values, each key into the secret that holds it, as deployed."""
    from project.core.secrets import SECRET_OF_KEY

    token = {k: v for k, v in values.items() if SECRET_OF_KEY.get(k) == "BOT_TOKEN_SECRET_NAME"}
    write_secret(aws, stage, {k: v for k, v in values.items() if k not in token})
    write_secret(aws, stage.bot_token_name, token)


def read_secrets(aws, stage: StageSecrets) -> dict:
    return {**read_secret(aws, stage), **read_secret(aws, stage.bot_token_name)}


@pytest.fixture
def full_secret(aws, stage_secret, settings):
    values = {**settings.LOCAL_SECRETS, "database_url": "postgres://app:db-password@db.example.com:5432/meetups"}
    write_secrets(aws, stage_secret, values)
    return values


@pytest.fixture
def lambda_functions(aws):
    """Stand-ins for what `zappa deploy` creates (nothing runs them; the commands configure and
    inspect them), and the sender's SQS event source mapping as the stack defines it."""
    iam, lam = aws.client("iam"), aws.client("lambda")
    role = iam.create_role(
        RoleName="stand-in",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}),
    )["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    environment = {"STAGE": "test", "OUTBOX_QUEUE_URL": aws.queue_url, "OUTBOX_DLQ_URL": aws.dlq_url,
                   "SECRETS_NAME": "meetups/test", "SENDER_MAX_CONCURRENCY": "2"}
    for kind, timeout in (("site", 29), ("webhook", 20), ("sender", SENDER_TIMEOUT), ("manage", 900)):
        lam.create_function(
            FunctionName=f"meetups-test-{kind}", Runtime="python3.11", Handler=f"handlers.{kind}.handler",
            Role=role, Code={"ZipFile": buffer.getvalue()}, Timeout=timeout,
            Environment={"Variables": environment},
        )
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(
        FunctionName="meetups-test-sender", EventSourceArn=queue_arn, BatchSize=100, Enabled=True,
        FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 2},
    )
    return {"mapping_uuid": mapping["UUID"], "queue_arn": queue_arn}


@pytest.fixture(scope="module")
def _gateway_server():
    from infra.local.webhook_gateway import start_gateway

    running = start_gateway()
    yield running
    running.stop()


@pytest.fixture
def gateway(_gateway_server, transactional_db, settings):
    """The real webhook handler over HTTP, where the sandbox delivers (TELEGRAM_WEBHOOK_URL).
    It runs in another thread, hence a transactional database."""
    settings.TELEGRAM_WEBHOOK_URL = _gateway_server.webhook_url
    return _gateway_server
