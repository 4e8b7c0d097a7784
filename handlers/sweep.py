"""
Lambda entry point of the outbox sweep, run by a scheduled EventBridge rule (every few
minutes): enqueues again the deliveries left queued or claimed for too long.
"""

from __future__ import annotations

import os

from project.core import observability  # standard library only; metrics and log ids (C8)


@observability.entry_point  # request_id on every line; metrics flushed at the end
def handler(event=None, context=None):
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        import django

        django.setup()
    from django.db import close_old_connections, connection

    from project.notifications.flows.sweep import sweep

    # Not inside an open transaction (a test's): closing it would end the test's transaction.
    outside = not connection.in_atomic_block
    if outside:
        close_old_connections()
    try:
        older_than = (event or {}).get("older_than") if isinstance(event, dict) else None
        result = sweep(older_than)
        return {"found": result.found, "enqueued": result.enqueued}
    finally:
        if outside:
            close_old_connections()
