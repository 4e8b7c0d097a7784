"""`manage.py configure_sender`: ReportBatchItemFailures and MaximumConcurrency on the sender's mapping, enabled."""

from project.ops.flows.sender_mapping import configure_sender

from ._base import OpsCommand


class Command(OpsCommand):
    help = (
        "After every zappa deploy/update of <stage>_sender: turn on ReportBatchItemFailures, set "
        "MaximumConcurrency to SENDER_MAX_CONCURRENCY and enable the SQS event source mapping."
    )

    def handle(self, *args, **options):
        before, after = configure_sender()
        self.stdout.write(
            f"{after.function} <- {after.queue_arn.rsplit(':', 1)[-1]}: "
            f"{'enabled' if after.enabled else 'DISABLED'}, "
            f"ReportBatchItemFailures {'on' if after.reports_batch_item_failures else 'OFF'}, "
            f"MaximumConcurrency {after.maximum_concurrency} (was: "
            f"{'enabled' if before.enabled else 'disabled'}, "
            f"{'on' if before.reports_batch_item_failures else 'off'}, {before.maximum_concurrency or 'unset'})."
        )
