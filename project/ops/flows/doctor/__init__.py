"""
Checking a stage end to end and saying in plain words what is wrong (`manage.py doctor`).

Each check reads what the stage really has (the secrets, Telegram's view of the bot and its
webhook, the queues, each function's own configuration and, by invoking it, what the site
function sees of its database, the stack's schedule, alarms, logs, mail identity and
certificate) and compares it with what the stage's settings say it should be. A check that
cannot run says why and is skipped; the checks after it still run, so one run lists
everything that needs fixing. Every finding is one line that says what to do. Messages name
values that are safe to show (ids, URLs, counts) and never a secret.
"""

from __future__ import annotations

import logging
from typing import Callable

from .base import OK, PROBLEM, SKIPPED, WARN, Context, Finding, Report, error_text
from .database import check_database_here, check_database_in_function, check_site
from .queues import check_functions, check_queues, check_sender
from .secret import check_get_me, check_secret, check_stage, check_token
from .stage import check_alarm_mail, check_certificate, check_log_retention, check_schedule, check_ses
from .webhook import check_webhook, check_webhook_secret

logger = logging.getLogger(__name__)

__all__ = ["CHECKS", "OK", "PROBLEM", "SKIPPED", "WARN", "Context", "Finding", "Report", "run_doctor"]

CHECKS: dict[str, Callable[[Report, Context], None]] = {
    "stage": check_stage,
    "secret": check_secret,
    "token": check_token,
    "getme": check_get_me,
    "webhook": check_webhook,
    "webhook-secret": check_webhook_secret,
    "sender": check_sender,  # before the queues: they compare with its timeout
    "queues": check_queues,  # before the functions: they compare with its maxReceiveCount
    "functions": check_functions,
    "database-here": check_database_here,
    "database-function": check_database_in_function,
    "site": check_site,
    "sweep": check_schedule,
    "alarm-mail": check_alarm_mail,
    "log-retention": check_log_retention,
    "mail": check_ses,
    "certificate": check_certificate,
}


def run_doctor(*, skip: tuple[str, ...] | list[str] = ()) -> Report:
    report, ctx = Report(), Context()
    for name, check in CHECKS.items():
        if name in skip:
            continue
        try:
            check(report, ctx)
        except Exception as exc:  # one broken check must not hide the others
            logger.exception("doctor check %s failed", name)
            report.add(name, PROBLEM, f"The check itself failed ({error_text(exc)}): report it with doctor's output.")
    return report
