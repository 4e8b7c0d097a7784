"""Tunables of the meetups app, read from settings with a default here (as contrib apps do)."""

from django.conf import settings


def decline_cooldown_days() -> int:
    """After a decline, how long before the same person may ask the same person again."""
    return int(getattr(settings, "MEETUPS_DECLINE_COOLDOWN_DAYS", 30))


def site_url() -> str:
    return settings.SITE_URL.rstrip("/")
