"""`manage.py retry_updates`: handle again the stored updates whose handling failed."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from project.bot.flows.retry import retry_updates
from project.bot.models import StoredUpdate


class Command(BaseCommand):
    help = "Handle failed stored Telegram updates again (and, with --stale, ones received but never handled)."

    def add_arguments(self, parser):
        parser.add_argument("update_ids", nargs="*", type=int, help="Only these update_ids.")
        parser.add_argument(
            "--stale", type=int, metavar="MINUTES", default=None,
            help="Also retry updates still 'received' this many minutes after arrival (a crash mid-handling).",
        )
        parser.add_argument("--list", action="store_true", help="Only list what would be retried.")

    def handle(self, *args, update_ids=(), stale=None, list=False, **options):  # noqa: A002
        if list:
            statuses = [StoredUpdate.Status.FAILED] + ([StoredUpdate.Status.RECEIVED] if stale is not None else [])
            queryset = StoredUpdate.objects.filter(status__in=statuses).order_by("update_id")
            if stale is not None:
                queryset = queryset.exclude(
                    status=StoredUpdate.Status.RECEIVED, received_at__gt=timezone.now() - timedelta(minutes=stale)
                )
            if update_ids:
                queryset = queryset.filter(update_id__in=update_ids)
            for stored in queryset:
                self.stdout.write(f"{stored.update_id} {stored.kind} {stored.status} attempts={stored.attempts}: {stored.error}")
            return
        results = retry_updates(update_ids=update_ids or None, stale_minutes=stale)
        for result in results:
            line = f"{result.update_id} {result.kind}: {result.outcome}" + (f" ({result.reason})" if result.reason else "")
            self.stdout.write(self.style.ERROR(line) if result.outcome == "failed" else line)
        failed = sum(1 for r in results if r.outcome == "failed")
        self.stdout.write(f"retried {len(results)}, failed again {failed}")
