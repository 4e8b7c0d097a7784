"""
Secrets never reach a log record.

python-telegram-bot and httpx log request URLs, and a Bot API URL carries the bot token
(`/bot<token>/sendMessage`). Rather than trusting every call site, every log record is
redacted when it is created: a record factory replaces the stage's secret values (once
they are loaded) and anything shaped like a bot token. Handlers, pytest's capture and
CloudWatch all see only the redacted text; observability's JSON formatter runs on these
already-redacted records and passes anything it adds through `redact()` (contract C9).

Live one-time tokens are redacted by their place rather than their value (nobody knows
them in advance): Django's own request and security loggers write the path of a 404, a
405 (an OPTIONS on a sign-in link) and a CSRF failure, and servers and clients log whole
URLs. So the token segment of an email sign-in link (`/accounts/login/link/<token>/`), the
argument of `/start <token>`, and the values of the query-string, fragment and form
parameters that carry tokens (OIDC `code` and `state`, `/start` deep links, the legacy
`tgAuthResult`, the login-URL button's `hash`, the Mini App's `tgWebAppData`, `hash` and
`signature`, OAuth tokens), plain or percent-encoded inside another URL, become
"[redacted]" wherever they appear in a message or a traceback.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[redacted]"
# <bot id>:<35 characters> as BotFather issues them; shorter test tokens are registered.
BOT_TOKEN_PATTERN = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}")

# Parameters whose value is a token, in a query string, a fragment or a form body.
TOKEN_PARAMETERS = (
    "code", "state", "start", "startapp", "startgroup", "hash", "signature", "tgAuthResult",
    "tgWebAppData", "initData", "id_token", "access_token", "refresh_token", "code_verifier",
    "client_secret", "secret_token", "token",
)
_names = "|".join(sorted(TOKEN_PARAMETERS, key=len, reverse=True))
_TOKEN_SHAPES = [
    # ?code=...&state=...  #tgAuthResult=...  (the value ends at the next separator)
    (re.compile(rf"((?:^|[?&#;])(?:{_names})=)[^&#;\s'\"<>]+"), r"\1" + REDACTED),
    # the same, percent-encoded inside another URL's parameter (return_to=...%3Fstate%3D...)
    (re.compile(rf"((?:%3[Ff]|%26|%23)(?:{_names})%3[Dd])(?:(?!%26|%23)[^&#;\s'\"<>])+"), r"\1" + REDACTED),
    # {'hash': '...'} / {"id_token": "..."}: a dict or JSON quoting one of them
    (re.compile(rf"""(["'](?:{_names})["']\s*:\s*["'])[^"']+"""), r"\1" + REDACTED),
    # the email sign-in link: /accounts/login/link/<token>/
    (re.compile(r"(/login/link/)[^/?#\s'\"<>]+"), r"\1" + REDACTED),
    # /start <token> (and /start@bot <token>) as typed in Telegram
    (re.compile(r"(/start(?:@\w+)?[ \t]+)[A-Za-z0-9_-]{16,}"), r"\1" + REDACTED),
]

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
    text = BOT_TOKEN_PATTERN.sub(REDACTED, text)
    for pattern, replacement in _TOKEN_SHAPES:
        text = pattern.sub(replacement, text)
    return text


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
