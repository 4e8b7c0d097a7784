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
    # Its updated_at also tells the bot's /start that the person chose anew since a /stop.
    NotificationSettings.objects.update_or_create(user=user, defaults={"all_off": everything_off})


# ----- the bot's /stop and /start ------------------------------------------------------------


@transaction.atomic
def turn_off_telegram(user) -> list[kinds.Kind]:
    """
    The bot's /stop: turn Telegram off for every kind that is on there now (security notices
    stay on) and return those kinds, so that /start can turn back on exactly them and not the
    ones the person had turned off themselves. The other choices are kept.
    """
    choices = chosen(user)
    turned_off = [
        kind for kind in kinds.KINDS.values()
        if kind.can_turn_off and wants(kind, kinds.TELEGRAM, choices, False)
    ]
    for kind in turned_off:
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind.code, channel=kinds.TELEGRAM, defaults={"enabled": False}
        )
    return turned_off


@transaction.atomic
def turn_on_telegram(user, codes, *, unless_saved_since=None) -> list[kinds.Kind]:
    """
    The bot's /start after a /stop: turn Telegram back on for the kinds `codes` (what /stop
    turned off) that are still off; returns them. Nothing, when the settings page was saved
    after `unless_saved_since` (the person chose anew; that wins over undoing the /stop).
    """
    if unless_saved_since is not None and NotificationSettings.objects.filter(
        user=user, updated_at__gt=unless_saved_since
    ).exists():
        return []
    choices = chosen(user)
    turned_on = []
    for code in codes:
        kind = kinds.KINDS.get(code)
        if kind is None or not kind.can_turn_off or choices.get((code, kinds.TELEGRAM), True):
            continue  # a kind that no longer exists, or one that is on again already
        NotificationPreference.objects.filter(user=user, kind=code, channel=kinds.TELEGRAM).update(enabled=True)
        turned_on.append(kind)
    return turned_on


def telegram_kinds(user) -> list[kinds.Kind]:
    """The kinds that come to Telegram for this person now (the all-off switch included)."""
    return [kind for kind in kinds.KINDS.values() if kinds.TELEGRAM in channels_for(user, kind.code)]
