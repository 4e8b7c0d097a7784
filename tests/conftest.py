"""
Fixtures for the whole suite, and one check over all of it: no bot token, webhook secret or
client secret may appear in any log record or in any response body the site produces.
"""

from __future__ import annotations

import logging

import pytest

# The Telegram sandbox's fixtures (telegram_sandbox_server, telegram_sandbox).
import importlib.util

pytest_plugins = [
    plugin
    for plugin in ["infra.local.telegram_sandbox.pytest_plugin"]
    if importlib.util.find_spec(plugin) is not None
]

FOREIGN_BOT_TOKEN = "7000000002:AAH-foreign-sandbox-token-not-a-secret-02"


def secret_values() -> list[str]:
    from django.conf import settings

    from project.core import secrets

    values = {FOREIGN_BOT_TOKEN}
    for key in ("telegram_bot_token", "telegram_webhook_secret", "telegram_oidc_client_secret"):
        values.add(secrets.get_secret(key, required=False) or settings.LOCAL_SECRETS[key])
    return sorted(v for v in values if v)


class LeakCollector(logging.Handler):
    """Sees every record at every level and remembers those that carry a secret."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.secrets: list[str] = []
        self.leaks: list[str] = []

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text += record.exc_text
        for value in self.secrets:
            if value in text:
                self.leaks.append(f"log record {record.name}:{record.levelname}: {text[:300]!r}")


_collector = LeakCollector()


@pytest.fixture(scope="session", autouse=True)
def _watch_for_secret_leaks():
    from django.core.handlers.base import BaseHandler

    _collector.secrets = secret_values()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(_collector)
    root.setLevel(logging.DEBUG)
    # PTB and httpx log the Bot API URL (which holds the token) at DEBUG: listen there too.
    watched = [logging.getLogger(name) for name in ("telegram", "httpx", "httpcore")]
    watched_levels = [logger.level for logger in watched]
    for logger in watched:
        logger.setLevel(logging.DEBUG)

    original_get_response = BaseHandler.get_response

    def get_response(self, request):
        response = original_get_response(self, request)
        if not getattr(response, "streaming", False):
            body = response.content.decode("utf-8", "replace")
            for value in _collector.secrets:
                if value in body:
                    _collector.leaks.append(f"response body of {request.method} {request.path}")
        return response

    BaseHandler.get_response = get_response
    yield
    BaseHandler.get_response = original_get_response
    root.removeHandler(_collector)
    root.setLevel(previous_level)
    for logger, level in zip(watched, watched_levels):
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def _no_secret_in_this_test():
    start = len(_collector.leaks)
    yield
    leaks = _collector.leaks[start:]
    assert not leaks, "A secret appeared where it must not:\n" + "\n".join(leaks)


@pytest.fixture(autouse=True)
def _fresh_secrets_cache():
    """Each test starts from the environment it sets up (e.g. moto's Secrets Manager)."""
    from project.core import secrets

    secrets.reset_cache()
    yield
    secrets.reset_cache()
