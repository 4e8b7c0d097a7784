"""
The sender's SQS event source mapping, as `doctor` reads it.

The stack (infra/aws/stack.yaml, SenderEventSource) defines it once: ReportBatchItemFailures
(the sender answers a batch with the messages that failed, a 429 waiting out retry_after or a
5xx backing off; without it Lambda deletes the whole batch, failed messages included) and
ScalingConfig.MaximumConcurrency = SENDER_MAX_CONCURRENCY (the shared rate limiter divides
Telegram's 30 messages a second between at most that many senders; reserved concurrency
instead would throttle invocations and count receives towards the dead-letter queue).
Zappa no longer manages it (no `events` in the Zappa settings), so `zappa update` leaves it
alone; nothing here changes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from project.ops import conf
from project.ops.errors import OpsError

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


@dataclass
class MappingState:
    uuid: str
    function: str
    queue_arn: str
    enabled: bool
    reports_batch_item_failures: bool
    maximum_concurrency: int | None
    batch_size: int

    @classmethod
    def from_api(cls, mapping: dict) -> "MappingState":
        return cls(
            uuid=mapping["UUID"],
            function=mapping.get("FunctionArn", "").rsplit(":", 1)[-1],
            queue_arn=mapping.get("EventSourceArn", ""),
            enabled=mapping.get("State") in ("Enabled", "Enabling", "Updating"),
            reports_batch_item_failures=REPORT_BATCH_ITEM_FAILURES in (mapping.get("FunctionResponseTypes") or []),
            maximum_concurrency=(mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
            batch_size=int(mapping.get("BatchSize") or 0),
        )


def queue_arn() -> str:
    from project.core.aws import client

    if not settings.OUTBOX_QUEUE_URL:
        raise OpsError("OUTBOX_QUEUE_URL is not set for this stage.")
    attributes = client("sqs").get_queue_attributes(QueueUrl=settings.OUTBOX_QUEUE_URL, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def find_mappings() -> list[MappingState]:
    """Every mapping from the outbox queue to the sender function (the stack's, and any other)."""
    from project.core.aws import client

    lam = client("lambda")
    try:
        answer = lam.list_event_source_mappings(FunctionName=conf.function_name("sender"), EventSourceArn=queue_arn())
    except lam.exceptions.ResourceNotFoundException:
        return []
    return [MappingState.from_api(m) for m in answer.get("EventSourceMappings") or []]


def find_mapping() -> MappingState | None:
    mappings = find_mappings()
    return mappings[0] if mappings else None
