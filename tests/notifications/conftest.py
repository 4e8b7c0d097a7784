"""Helpers for the notifications tests: people with a verified email and/or Telegram, and a
stand-in for Lambda's event source mapping that drains the moto queue through the handler."""

from __future__ import annotations

import itertools

import pytest

_ids = itertools.count(1)


@pytest.fixture
def make_person(db):
    from allauth.account.models import EmailAddress

    from project.accounts.models import User
    from project.telegram_accounts.models import TelegramAccount

    def make(*, email: str | None = "auto", telegram_id: int | None = None, verified: bool = True, sandbox=None):
        n = next(_ids)
        address = f"person{n}@example.com" if email == "auto" else (email or "")
        user = User.objects.create(username=f"person{n}", email=address)
        if address:
            EmailAddress.objects.create(user=user, email=address, primary=True, verified=verified)
        if telegram_id is not None:
            TelegramAccount.objects.create(user=user, telegram_id=telegram_id, first_name=f"Person {n}")
            if sandbox is not None:
                sandbox.add_user(telegram_id, first_name=f"Person {n}")
        return user

    return make


class Lambda:
    """Drains the queue through handlers.sender.handler, as the event source mapping would."""

    def __init__(self, aws):
        from infra.local.sqs_poller import queue_arn

        self.aws = aws
        self.sqs = aws.client("sqs")
        self.arn = queue_arn(self.sqs, aws.queue_url)
        self.results: list[dict] = []

    def receive_event(self, max_messages: int = 10) -> dict:
        from infra.local.sqs_poller import to_event

        messages = self.aws.receive(max_messages=max_messages)
        return to_event(messages, self.arn, "eu-central-1")

    def invoke(self, event: dict) -> dict:
        from handlers.sender import handler

        result = handler(event, None)
        self.results.append(result)
        failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=record["receiptHandle"])
        return result

    def drain(self, rounds: int = 20) -> int:
        """Run batches until the queue shows nothing visible; returns messages handled."""
        from infra.local.sqs_poller import poll_once
        from handlers.sender import handler

        total = 0
        for _ in range(rounds):
            received, _failed = poll_once(self.sqs, self.aws.queue_url, self.arn, handler, wait=0)
            if not received:
                break
            total += received
        return total

    def visible_count(self, queue_url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.aws.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])


@pytest.fixture
def lambda_sender(aws, sandbox):
    from project.notifications.sending import reset_sender

    reset_sender()
    yield Lambda(aws)
    reset_sender()
