"""
Calling the Bot API from an operator command, with python-telegram-bot.

PTB's Bot is async and bound to the event loop it first ran on, so each call runs in its
own asyncio.run with a Bot created and shut down inside it (commands make a handful of calls,
so the cost does not matter). The token is an argument, not read here: put_bot_token checks
a token that is not in the stage secret yet.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, TypeVar

from django.conf import settings

from project.core.logging import register_secret_values

T = TypeVar("T")


def call(token: str, fn: Callable[..., Awaitable[T]]) -> T:
    """Run `await fn(bot)` with a Bot for `token` on the stage's Bot API server."""
    from project.core.telegram import make_bot

    register_secret_values([token])

    async def run():
        bot = make_bot(token)
        async with bot:
            return await fn(bot)

    return asyncio.run(run())


def describe_error(exc: Exception) -> str:
    """PTB's error in plain words, without the token (PTB's messages never carry it)."""
    from telegram import error

    if isinstance(exc, error.InvalidToken):
        return "Telegram does not accept this token (401 Unauthorized): it was revoked or mistyped"
    if isinstance(exc, error.Forbidden):
        return f"Telegram refused (403): {exc.message}"
    if isinstance(exc, error.RetryAfter):
        return f"Telegram asks to wait {exc.retry_after} before calling again (429)"
    if isinstance(exc, error.TimedOut):
        return "Telegram did not answer in time"
    if isinstance(exc, error.NetworkError):
        return f"cannot reach the Bot API at {settings.TELEGRAM_API_BASE_URL}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
