"""
The one way to build a python-telegram-bot `Bot` for this stage.

Its Bot API server comes from settings (Telegram, or the local sandbox) and its token from
the stage's secrets, checked against the stage's bot id. Callers own the Bot's life cycle:
the sender keeps one per container on its event loop; operator commands open and close one
inside a single `asyncio.run`.
"""

from __future__ import annotations

from django.conf import settings


def bot_api_base_url() -> str:
    return f"{settings.TELEGRAM_API_BASE_URL}/bot"


def make_bot(
    token: str | None = None,
    *,
    connect_timeout: float = 10,
    read_timeout: float = 20,
    write_timeout: float | None = None,
    pool_timeout: float | None = None,
    connection_pool_size: int = 1,
):
    """A Bot for `token` (default: the stage's own, via project.core.secrets.bot_token())."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    if token is None:
        from project.core.secrets import bot_token

        token = bot_token()
    return Bot(
        token,
        base_url=bot_api_base_url(),
        request=HTTPXRequest(
            connection_pool_size=connection_pool_size,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            pool_timeout=pool_timeout,
        ),
    )
