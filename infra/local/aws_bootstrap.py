"""
Create the local stage's AWS resources in moto's server: the outbox queue, its dead-letter
queue and the stage's two secrets, shaped like infra/aws/stack.yaml makes them in a real account.

    python -m infra.local.aws_bootstrap     (make dev runs it once moto is up)

Idempotent: creating what exists is a no-op, and the secret keeps any value already put.
"""

from __future__ import annotations

import json
import os
import sys

QUEUE_NAME = "outbox-local"
DLQ_NAME = "outbox-local-dlq"
# Same as the deployed stack (see docs/OUTBOX.md for why): enough receives for the
# sender's backoff to ride out about 21 minutes of Telegram errors.
MAX_RECEIVE_COUNT = 8
# Six times the sender function's 60 s timeout, as AWS advises for an SQS event source.
VISIBILITY_TIMEOUT = 360


def bootstrap(secret_values: dict[str, str], secret_name: str, bot_token_secret_name: str) -> dict[str, str]:
    from project.core.aws import client

    sqs = client("sqs")
    dlq_url = sqs.create_queue(QueueName=DLQ_NAME, Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
        },
    )["QueueUrl"]

    # Two secrets, as deployed: the bot token apart, so the webhook function cannot read it.
    token_key = "telegram_bot_token"
    secrets = client("secretsmanager")
    for name, values in (
        (secret_name, {k: v for k, v in secret_values.items() if k != token_key}),
        (bot_token_secret_name, {token_key: secret_values[token_key]}),
    ):
        try:
            secrets.describe_secret(SecretId=name)
        except secrets.exceptions.ResourceNotFoundException:
            secrets.create_secret(Name=name, SecretString=json.dumps(values))
    return {
        "OUTBOX_QUEUE_URL": queue_url,
        "OUTBOX_DLQ_URL": dlq_url,
        "SECRETS_NAME": secret_name,
        "BOT_TOKEN_SECRET_NAME": bot_token_secret_name,
    }


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.conf import settings

    created = bootstrap(settings.LOCAL_SECRETS, settings.SECRETS_NAME, settings.BOT_TOKEN_SECRET_NAME)
    for key, value in created.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
