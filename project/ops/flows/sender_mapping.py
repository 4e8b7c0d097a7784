"""
The sender's SQS event source mapping (`manage.py configure_sender`), after each
`zappa deploy` / `zappa update` of <stage>_sender.

Zappa creates the mapping from zappa_settings.json but cannot set two things the sender
depends on:

- FunctionResponseTypes = ReportBatchItemFailures. The sender answers a batch with the
  messages that failed (a 429 waiting out retry_after, a 5xx backing off); without this
  setting Lambda ignores that answer and deletes the whole batch, failed messages included.
- ScalingConfig.MaximumConcurrency = SENDER_MAX_CONCURRENCY. The shared rate limiter divides
  Telegram's 30 messages a second between at most that many senders; more pollers would
  only wait for slots (or, with reserved concurrency instead, be throttled and count
  receives towards the dead-letter queue without ever running).

So zappa_settings.json creates the mapping disabled ("enabled": false), and Zappa's
update keeps re-applying that; this flow sets both values and enables it. Until it runs,
messages wait in the queue (the StuckOutbox alarm and `doctor` say so); none is mishandled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from project.ops import conf
from project.ops.errors import NotDeployed, OpsError

logger = logging.getLogger(__name__)

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


def wanted_concurrency() -> int:
    value = int(settings.SENDER_MAX_CONCURRENCY)
    if not 2 <= value <= 1000:
        raise OpsError(f"SENDER_MAX_CONCURRENCY is {value}; an SQS event source allows 2 to 1000.")
    return value


def queue_arn() -> str:
    from project.core.aws import client

    if not settings.OUTBOX_QUEUE_URL:
        raise OpsError("OUTBOX_QUEUE_URL is not set for this stage.")
    attributes = client("sqs").get_queue_attributes(QueueUrl=settings.OUTBOX_QUEUE_URL, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def find_mapping() -> MappingState | None:
    """The mapping from the outbox queue to the sender function, if Zappa made it."""
    from project.core.aws import client

    lam = client("lambda")
    try:
        answer = lam.list_event_source_mappings(FunctionName=conf.function_name("sender"), EventSourceArn=queue_arn())
    except lam.exceptions.ResourceNotFoundException:
        return None
    mappings = answer.get("EventSourceMappings") or []
    return MappingState.from_api(mappings[0]) if mappings else None


def configure_sender() -> tuple[MappingState, MappingState]:
    """Set ReportBatchItemFailures and MaximumConcurrency on the mapping and enable it: (before, after)."""
    from project.core.aws import client

    concurrency = wanted_concurrency()
    before = find_mapping()
    if before is None:
        raise NotDeployed(
            f"No event source mapping from the outbox queue to {conf.function_name('sender')}. "
            f"Deploy the sender first: zappa deploy {settings.STAGE}_sender."
        )
    answer = client("lambda").update_event_source_mapping(
        UUID=before.uuid,
        FunctionResponseTypes=[REPORT_BATCH_ITEM_FAILURES],
        ScalingConfig={"MaximumConcurrency": concurrency},
        Enabled=True,
    )
    after = MappingState.from_api(answer)
    logger.info(
        "sender mapping %s: ReportBatchItemFailures on, MaximumConcurrency %s, enabled", after.uuid, concurrency
    )
    return before, after
