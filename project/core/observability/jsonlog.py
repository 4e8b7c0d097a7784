"""
JSON log lines for deployed stages (settings.LOG_FORMAT = "json"): one object per line, which
CloudWatch Logs Insights reads field by field.

    {"timestamp": "...", "level": "INFO", "logger": "handlers.webhook", "message": "...",
     "location": "_handle:171", "request_id": "...", "update_id": 812}

Powertools' formatter (the one its Logger uses) does the JSON; this adds the logger's name
and the ids bound in `project.core.observability`, and keeps redaction whole (contract C9).
Records are redacted when created (project/core/logging.py's record factory), so the
message this formatter sees is already clean. What the factory does not cover, and a JSON
line would otherwise add, is redacted here with the same `redact()`: the traceback (the
formatter renders it again from exc_info), and `extra=` fields (set on the record after
the factory ran; the text format never prints them). Powertools' structured stack trace,
which would quote the exception's message unredacted, is turned off.
"""

from __future__ import annotations

import copy
import logging

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from project.core.logging import redact

from . import current_ids


# What every LogRecord has; anything else on a record came from extra=.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _as_text(message: str) -> str:
    return message


class JsonLinesFormatter(LambdaPowertoolsFormatter):
    def __init__(self, **kwargs):
        kwargs.setdefault("log_record_order", ["timestamp", "level", "logger", "message"])
        # A message stays the text it is (Powertools would try to parse each one as JSON).
        kwargs.setdefault("json_deserializer", _as_text)
        super().__init__(utc=True, use_rfc3339=True, serialize_stacktrace=False, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        # Only what the record factory did not redact needs it here (redacting every line
        # again would double the cost of a log line).
        unredacted = record.exc_info or record.stack_info or not _STANDARD_ATTRIBUTES.issuperset(vars(record))
        # A copy: other handlers (pytest's capture, a second handler) see the record unchanged.
        record = copy.copy(record)
        record.logger = record.name
        for key, value in current_ids().items():
            if not hasattr(record, key):  # an explicit extra= wins
                setattr(record, key, value)
        line = super().format(record)
        return redact(line) if unredacted else line

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))
