"""`replay_dead_letters`: move the outbox's dead letters back onto the outbox queue.

It needs the private database, so on a deployed stage it runs in the manage function:
`zappa manage <stage>_manage replay_dead_letters -s var/stages/<stage>/zappa_settings.json`
(arguments in one quoted word: `"replay_dead_letters --dry-run"`). Zappa prints only what
Lambda returns of the invocation's log, its last 4 KB, after which Lambda adds its END and
REPORT lines (and, when the command fails, the error with its traceback). So the output is
short whatever the queue held: each list is cut (the log has every message, one line each,
for `zappa tail`), the lines are plain text, and the totals come last. From a laptop with
DATABASE_URL (`manage.py replay_dead_letters --settings=infra.aws.operator_settings`) it
prints the same.
"""

from __future__ import annotations

import sys

from django.core.management.base import CommandError

from project.ops.flows.dead_letters import replay_dead_letters

from ._base import OpsCommand

SHOWN_IDS = 50  # delivery ids listed per line
SHOWN_REASONS = 5  # messages listed per kind of trouble (each line is about 100 characters)


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


class Command(OpsCommand):
    help = "Put the deliveries of the outbox's dead letters back in the queue, once the cause is fixed (needs the database)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="At most this many messages.")
        parser.add_argument("--dry-run", action="store_true", help="List what would be replayed; move nothing.")

    def handle(self, *args, limit=None, dry_run=False, **options):
        result = replay_dead_letters(limit=limit, dry_run=dry_run)
        lines: list[tuple[str, str]] = []  # (style, text)
        for kind, reasons, style in (("Not replayed", result.failed, "ERROR"),
                                     ("Left in the dead-letter queue", result.left, "WARNING")):
            lines += [(style, f"{kind}: {reason}") for reason in reasons[:SHOWN_REASONS]]
            if len(reasons) > SHOWN_REASONS:
                lines.append((style, f"{kind}: {len(reasons) - SHOWN_REASONS} more (each one is in the log)."))
        if result.already_done:
            lines.append(("", f"{'Would remove' if dry_run else 'Removed'} {len(result.already_done)} dead letters "
                              f"whose delivery was already sent or is gone ({_ids(result.already_done)})."))
        ids = _ids(result.replayed)
        lines.append(("", f"{'Would replay' if dry_run else 'Replayed'} {len(result.replayed)} messages"
                          + (f" (deliveries {ids})." if ids else ".")))
        for style, text in lines:
            self.stdout.write(getattr(self.style, style)(text) if style else text)
        # Lambda's stdout reaches the log as it is flushed; the log tail must hold these lines.
        self.stdout.flush()
        sys.stdout.flush()
        if result.failed:
            raise CommandError(f"{len(result.failed)} dead letters could not be replayed and stay in the dead-letter queue; run again once the cause is fixed.")
