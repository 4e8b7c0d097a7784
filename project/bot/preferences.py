"""
/stop's effect on the notification preferences.

The notifications app owns preferences; until it offers a function to turn one channel off
for a person, this writes its models directly: every kind that can be turned off gets an
explicit "Telegram: off" preference (security notices stay on, as they must). The settings
page shows the result and is where Telegram is turned back on, kind by kind or all at once.
"""

from __future__ import annotations

from project.notifications import kinds
from project.notifications.models import NotificationPreference


def turn_off_telegram(user) -> int:
    """Turn every Telegram notification that may be turned off off for `user`; returns how many."""
    count = 0
    for kind in kinds.KINDS.values():
        if not kind.can_turn_off:
            continue
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind.code, channel=kinds.TELEGRAM, defaults={"enabled": False}
        )
        count += 1
    return count
