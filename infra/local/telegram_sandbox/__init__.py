"""A local stand-in for Telegram (Bot API subset, both sign-in flows, webhooks, rate
limits, fake users' chats). Dev and tests only; never deployed. See docs/SANDBOX.md."""

from .limits import Limits
from .state import (ApiError, BotConfig, ChatLink, DeliveryAttempt, FakeUser, Group,
                    ManualClock, RecordEntry, Sandbox)


def create_app(sandbox):
    from .app import create_app as _create_app

    return _create_app(sandbox)


__all__ = ["ApiError", "BotConfig", "ChatLink", "DeliveryAttempt", "FakeUser", "Group",
           "Limits", "ManualClock", "RecordEntry", "Sandbox", "create_app"]
