"""
Secrets never reach a log record.

python-telegram-bot and httpx log request URLs, and a Bot API URL carries the bot token
(`/bot<token>/sendMessage`). Rather than trusting every call site, every log record is
redacted when it is created: a record factory replaces the stage's secret values (once
they are loaded) and anything shaped like a bot token. Handlers, pytest's capture and
CloudWatch all see only the redacted text.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[redacted]"
# <bot id>:<35 characters> as BotFather issues them; shorter test tokens are registered.
BOT_TOKEN_PATTERN = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")

_secret_values: set[str] = set()
_lock = threading.Lock()
_installed = False


def register_secret_values(values) -> None:
    """Values to redact wherever they appear (called when the stage secret is loaded)."""
    with _lock:
        for value in values:
            if value and len(value) >= 8:
                _secret_values.add(value)


def redact(text: str) -> str:
    for value in sorted(_secret_values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return BOT_TOKEN_PATTERN.sub(REDACTED, text)


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call; leave it to logging's own error handling
        return
    redacted = redact(message)
    if redacted != message or record.args:
        record.msg, record.args = redacted, ()
    if record.exc_info and not record.exc_text:
        # Tracebacks can quote URLs too; format once here and redact the text.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def install() -> None:
    """Redact every record created from now on, in this process."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous_factory = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous_factory(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)


class RedactSecretsFilter(logging.Filter):
    """For LOGGING configs: redacts records created before install() ran."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True
