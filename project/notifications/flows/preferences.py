"""
Which channels a person wants for each kind: their own choices over the kind's defaults, the
all-off switch over both, and the kinds that cannot be turned off over everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .. import kinds
from ..models import NotificationPreference, NotificationSettings


def all_off(user) -> bool:
    return NotificationSettings.objects.filter(user=user, all_off=True).exists()


def chosen(user) -> dict[tuple[str, str], bool]:
    """The person's explicit choices, (kind, channel) -> enabled."""
    return {
        (kind, channel): enabled
        for kind, channel, enabled in NotificationPreference.objects.filter(user=user).values_list(
            "kind", "channel", "enabled"
        )
    }


def wants(kind: kinds.Kind, channel: str, choices: dict, everything_off: bool) -> bool:
    if not kind.can_turn_off:
        return True
    if everything_off:
        return False
    return choices.get((kind.code, channel), channel in kind.default_channels)


def channels_for(user, kind_code: str) -> list[str]:
    """The channels a notification of this kind goes out on for this person (maybe none)."""
    kind = kinds.get(kind_code)
    if not kind.can_turn_off:
        return list(kinds.CHANNELS)
    if all_off(user):
        return []
    choices = chosen(user)
    return [channel for channel in kinds.CHANNELS if wants(kind, channel, choices, False)]


@dataclass
class Cell:
    kind: kinds.Kind
    channel: str
    enabled: bool
    locked: bool  # cannot be turned off

    @property
    def field_name(self) -> str:
        return f"{self.kind.code}__{self.channel}"


def table(user) -> list[list[Cell]]:
    """The settings page's grid: one row per kind, one cell per channel, as they stand now.

    The cells show the per-kind choices even while the all-off switch is on, so turning it
    off again restores what the person had chosen.
    """
    choices = chosen(user)
    return [
        [
            Cell(kind, channel, wants(kind, channel, choices, False), locked=not kind.can_turn_off)
            for channel in kinds.CHANNELS
        ]
        for kind in kinds.KINDS.values()
    ]


@transaction.atomic
def save(user, *, enabled: set[tuple[str, str]], everything_off: bool) -> None:
    """Store the grid as submitted: every kind that can be turned off, on every channel."""
    for kind in kinds.KINDS.values():
        if not kind.can_turn_off:
            continue
        for channel in kinds.CHANNELS:
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind.code, channel=channel,
                defaults={"enabled": (kind.code, channel) in enabled},
            )
    NotificationSettings.objects.update_or_create(user=user, defaults={"all_off": everything_off})


def turn_off_channel(user, channel: str) -> int:
    """
    Turn one channel off for every kind that may be turned off (the bot's /stop does this for
    Telegram); security notices stay on. Returns how many kinds changed hands. The person's
    other choices are kept, and the settings page turns the channel back on.
    """
    count = 0
    for kind in kinds.KINDS.values():
        if not kind.can_turn_off:
            continue
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind.code, channel=channel, defaults={"enabled": False}
        )
        count += 1
    return count
