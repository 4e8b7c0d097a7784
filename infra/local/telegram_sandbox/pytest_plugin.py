"""pytest fixtures for the Telegram sandbox (Django-free).

Use with ``pytest_plugins = ["infra.local.telegram_sandbox.pytest_plugin"]`` in the root
conftest (or ``-p infra.local.telegram_sandbox.pytest_plugin``).

* ``telegram_sandbox_server`` (session): one sandbox on a free port for the whole run, with
  the bots of ``testing.default_bots()`` (TELEGRAM_BOT_TOKEN / TELEGRAM_BOT_USERNAME /
  TELEGRAM_OIDC_CLIENT_SECRET or the sandbox defaults, plus the foreign bot).
* ``telegram_sandbox`` (function): the same running sandbox, reset before the test (users,
  chats, webhooks, records, faults cleared; limits and the real clock restored).
"""

from __future__ import annotations

import pytest

from .testing import RunningSandbox, start_sandbox


@pytest.fixture(scope="session")
def telegram_sandbox_server():
    running = start_sandbox(webhook_retry_base=0.05, webhook_retry_max=0.5,
                            webhook_timeout=10.0)
    yield running
    running.stop()


@pytest.fixture
def telegram_sandbox(telegram_sandbox_server) -> RunningSandbox:
    telegram_sandbox_server.sandbox.reset()
    yield telegram_sandbox_server
    telegram_sandbox_server.sandbox.reset()
