"""
Lambda's SQS event source in the rehearsal, polling as each mapping in moto says.

Every second the poller reads the event source mappings from moto (so a mapping created,
disabled or changed by a deploy takes effect as on AWS). For each mapping in state
`Enabled` whose source is an SQS queue, it polls the queue **with the function's role's
credentials** (Lambda's poller uses the execution role: without `sqs:ReceiveMessage`,
`sqs:DeleteMessage` and `sqs:GetQueueAttributes` nothing is consumed, as on AWS), gathers up
to `BatchSize` messages within `MaximumBatchingWindowInSeconds`, and invokes the function
with them. Then, as Lambda does:

- the invocation failed (an exception, a timeout): nothing is deleted; the messages come
  back after their visibility timeout, and the redrive policy counts the receives;
- `FunctionResponseTypes` has `ReportBatchItemFailures`: every message but the reported
  `batchItemFailures` is deleted (a malformed answer fails the whole batch);
- otherwise every message of the batch is deleted, whatever the function answered.

A mapping's `ScalingConfig.MaximumConcurrency` bounds the concurrent invocations; the
rehearsal's runtime has one container per function, so at most one runs at a time.
"""

from __future__ import annotations

import threading
import time

from infra.rehearse.aws_world import REGION, AwsWorld


def sqs_event(messages: list[dict], arn: str) -> dict:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": arn,
        "awsRegion": REGION,
    } for m in messages]}


def to_delete(messages: list[dict], invocation, report_failures: bool) -> list[dict]:
    """Which messages Lambda deletes after an invocation (see the module docstring)."""
    if invocation.failed:
        return []
    if not report_failures:
        return list(messages)
    answer = invocation.result
    if answer is None:
        return list(messages)
    if not isinstance(answer, dict):
        return []
    failures = answer.get("batchItemFailures", [])
    if not isinstance(failures, list):
        return []
    failed_ids = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier:
            return []  # Lambda treats a malformed failure list as the whole batch failing
        failed_ids.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed_ids]


class SqsEventSource:
    def __init__(self, world: AwsWorld, runtime, *, log=print):
        self.world = world
        self.runtime = runtime
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sqs-event-source")
        self.batches: list[tuple[str, int, int]] = []  # (function, received, deleted)
        self.errors: list[str] = []
        self._credentials: dict[str, tuple] = {}
        self.passes = 0  # passes over the mappings begun so far (see settled())

    def _keys(self, role_arn: str, function: str):
        """The role's credentials, renewed before they expire (an hour)."""
        cached = self._credentials.get(role_arn)
        if cached is None or time.monotonic() - cached[1] > 3000:
            cached = (self.world.role_credentials(role_arn, f"{function}-poller"), time.monotonic())
            self._credentials[role_arn] = cached
        return cached[0]

    def start(self) -> "SqsEventSource":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def settled(self, timeout: float = 30.0) -> bool:
        """Wait until a pass over the mappings has begun and ended since this call: a mapping
        changed before it (disabled, say) is then in effect. Lambda too takes a moment to
        stop polling a disabled mapping (its State goes Disabling, then Disabled)."""
        began = self.passes
        deadline = time.monotonic() + timeout
        while self.passes < began + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.passes >= began + 2

    def _run(self) -> None:
        while not self._stop.is_set():
            self.passes += 1
            busy = False
            try:
                for mapping in self.world.client("lambda").list_event_source_mappings()["EventSourceMappings"]:
                    if mapping.get("State") == "Enabled" and ":sqs:" in mapping.get("EventSourceArn", ""):
                        busy |= self.poll(mapping)
            except Exception as exc:  # keep polling; the rehearsal's steps report what is stuck
                self.errors.append(f"{type(exc).__name__}: {exc}")
            if not busy:
                self._stop.wait(1.0)

    def poll(self, mapping: dict) -> bool:
        function = mapping["FunctionArn"].split(":")[6]
        config = self.runtime.configuration(function)
        sqs = self.world.client("sqs", self._keys(config["Role"], function))
        arn = mapping["EventSourceArn"]
        # Lambda knows the queue from the ARN; only receiving and deleting use the role
        # (GetQueueUrl is not a permission the poller needs, so it is not asked as the role).
        queue_url = self.world.client("sqs").get_queue_url(QueueName=arn.split(":")[5],
                                                           QueueOwnerAWSAccountId=arn.split(":")[4])["QueueUrl"]
        batch_size = int(mapping.get("BatchSize") or 10)
        window = float(mapping.get("MaximumBatchingWindowInSeconds") or 0)
        messages: list[dict] = []
        deadline = time.monotonic() + window
        while len(messages) < batch_size:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(10, batch_size - len(messages)),
                                      WaitTimeSeconds=0 if messages else 1, AttributeNames=["All"],
                                      MessageAttributeNames=["All"]).get("Messages", [])
            messages.extend(got)
            if not messages or time.monotonic() >= deadline:
                break
            if not got:
                time.sleep(0.1)
        if not messages:
            return False
        invocation = self.runtime.invoke(function, sqs_event(messages, arn))
        report = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
        delete = to_delete(messages, invocation, report)
        for start in range(0, len(delete), 10):
            chunk = delete[start:start + 10]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
        self.batches.append((function, len(messages), len(delete)))
        if invocation.failed:
            self.errors.append(f"{function}: {invocation.error.get('errorType')}: {invocation.error.get('errorMessage')}")
        return True
