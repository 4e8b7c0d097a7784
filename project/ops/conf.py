"""
Tunables of the operator commands, each overridable in settings.

The Lambda functions are named by Zappa: slugify(project_name + "-" + stage), where the Zappa
stages are <stage>_site, <stage>_webhook and <stage>_sender (zappa_settings.json), so the
functions of `dev` are meetups-dev-site, meetups-dev-webhook and meetups-dev-sender.
"""

from __future__ import annotations

import os

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def project_name() -> str:
    return str(_get("ZAPPA_PROJECT_NAME", "meetups"))


def function_name(kind: str) -> str:
    """The Lambda function of this stage for `kind` (site, webhook, sender)."""
    override = _get(f"OPS_{kind.upper()}_FUNCTION", "")
    return override or f"{project_name()}-{settings.STAGE}-{kind}"


def rotation_drain_timeout() -> float:
    """How long a rotation waits for Telegram's pending updates (sent with the old secret,
    or queued before the switch) to drain before it stops accepting the old secret."""
    return float(_get("OPS_ROTATION_DRAIN_TIMEOUT", 120))


def rotation_grace_seconds() -> float:
    """Minimum time both secrets stay valid after setWebhook, even with nothing pending:
    a delivery already in flight with the old header may land after getWebhookInfo says 0."""
    return float(_get("OPS_ROTATION_GRACE", 10))


def pending_updates_warning() -> int:
    """More pending updates than this, with a delivery error, is worth a doctor's warning."""
    return int(_get("OPS_PENDING_UPDATES_WARNING", 100))


def http_timeout() -> float:
    return float(_get("OPS_HTTP_TIMEOUT", 10))


def functions_have_database_url() -> bool:
    """Whether the stage's functions get DATABASE_URL from their environment; if not, they read
    database_url from the stage secret (project/settings.py), and doctor wants it there.

    infra/aws/operator_settings.py sets OPS_FUNCTIONS_HAVE_DATABASE_URL from the stage's
    environment in zappa_settings.json: the operator's own DATABASE_URL (a tunnel, or none)
    says nothing about the functions'. Elsewhere (a function itself) this process's
    environment is the functions' environment."""
    configured = _get("OPS_FUNCTIONS_HAVE_DATABASE_URL", None)
    if configured is not None:
        return bool(configured)
    return bool(os.environ.get("DATABASE_URL"))
