"""
Tunables of the bot app, each overridable in settings.

The site paths the bot links to are settings rather than reverse() calls: reverse() imports
the whole URLconf (every view, allauth's included), which costs the webhook's cold start
about 150 ms for nothing. tests/bot/test_conf.py checks they match the URLconf.
"""

from __future__ import annotations

from django.conf import settings


def account_path() -> str:
    return getattr(settings, "BOT_ACCOUNT_PATH", "/accounts/")


def notification_settings_path() -> str:
    return getattr(settings, "BOT_NOTIFICATION_SETTINGS_PATH", "/settings/notifications/")


def meetup_path(meetup_id: int) -> str:
    return getattr(settings, "BOT_MEETUP_PATH", "/meetups/{id}/").format(id=int(meetup_id))


def webhook_max_connections() -> int:
    return int(getattr(settings, "TELEGRAM_WEBHOOK_MAX_CONNECTIONS", 40))


def support_ack_again_after() -> float:
    """Seconds without a staff answer after which a person writing again is told once more that
    their message arrived and nobody has forgotten them (issue 13 item 4)."""
    return float(getattr(settings, "SUPPORT_ACK_AGAIN_AFTER", 2 * 60 * 60))


def webhook_answers() -> bool:
    """Whether calls that need no result go in the webhook's response (contract C2)."""
    return bool(getattr(settings, "TELEGRAM_WEBHOOK_ANSWERS", True))
