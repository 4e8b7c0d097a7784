"""`manage.py doctor`: check a stage end to end; say in plain words what is wrong."""

from django.core.management.base import CommandError

from project.ops.flows.doctor import CHECKS, OK, PROBLEM, SKIPPED, WARN, run_doctor

from ._base import OpsCommand


class Command(OpsCommand):
    help = (
        "Check the stage end to end: its two secrets, the bot token against the stage's bot, getMe, the webhook "
        "(URL, secret, pending updates, last error), the queues, the sender's event source, the site's domain."
    )

    def add_arguments(self, parser):
        parser.add_argument("--skip", action="append", default=[], choices=list(CHECKS), help="Leave a check out (repeatable).")

    def handle(self, *args, skip=(), **options):
        report = run_doctor(skip=skip)
        styles = {OK: self.style.SUCCESS, WARN: self.style.WARNING, PROBLEM: self.style.ERROR, SKIPPED: str}
        for finding in report.findings:
            label = {OK: "ok", WARN: "warning", PROBLEM: "PROBLEM", SKIPPED: "skipped"}[finding.level]
            self.stdout.write(styles[finding.level](f"{label:8} {finding.check}: {finding.message}"))
        if not report.healthy:
            raise CommandError(f"{len(report.problems)} problems found.")
        self.stdout.write(self.style.SUCCESS("The stage looks healthy."))
