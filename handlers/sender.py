"""
Lambda entry point of the sender: an SQS batch event in, partial batch failures out.

    {"Records": [{"messageId", "receiptHandle", "body": '{"v": 1, "delivery_id": 123}', ...}]}
 -> {"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}

The event source mapping must have ReportBatchItemFailures on (infra/aws), so only the
listed messages come back. Everything else is in project/notifications/sending.py; this
module only makes sure Django is set up (Lambda imports it cold, with
DJANGO_SETTINGS_MODULE=project.settings) and keeps the container's Sender between calls.
"""

from __future__ import annotations

import os

from project.core import observability  # standard library only; metrics and log ids (C8)


def _setup_django() -> None:
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        # This function signs nobody in: settings leave allauth's sign-in providers out.
        os.environ.setdefault("FUNCTION_ROLE", "sender")
        import django

        django.setup()


@observability.entry_point  # request_id on every line; the batch's metrics flushed at its end
def handler(event, context=None):
    _setup_django()
    from django.db import close_old_connections, connection

    from project.notifications.sending import sender

    # A frozen container's database connection may be gone; Django checks it (conn_health_checks).
    # Not inside an open transaction (a test's): closing it would end the test's transaction.
    outside = not connection.in_atomic_block
    if outside:
        close_old_connections()
    try:
        return sender().handle(event, context)
    finally:
        if outside:
            close_old_connections()
