"""
Disconnecting Telegram from the account page.

Allowed unless Telegram is the person's only way in: an account without a verified email
would be left with no way to sign in, so it must add (and confirm) an email first.
"""

from __future__ import annotations

import logging

from allauth.account.models import EmailAddress
from django.db import transaction

from project.accounts.flows import security_notices
from project.telegram_accounts.flows import linking

logger = logging.getLogger(__name__)


class CannotDisconnect(Exception):
    """Telegram is the only way into this account."""

    message = (
        "Telegram is your only way to sign in, so it cannot be disconnected yet. "
        "Add and confirm an email address first."
    )


def has_other_way_in(user) -> bool:
    """A verified email lets the person sign in by email link or code."""
    return EmailAddress.objects.filter(user_id=user.pk, verified=True).exists()


def disconnect_telegram(user) -> int | None:
    """Unlink Telegram from `user` (both sign-in flows); the old telegram id, or None if none was linked."""
    if not has_other_way_in(user):
        raise CannotDisconnect()
    with transaction.atomic():
        telegram_id = linking.unlink(user)
        security_notices.telegram_disconnected(user, telegram_id)  # to every channel, and that chat
    return telegram_id
