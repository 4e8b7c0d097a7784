"""
The one link between a site account and a Telegram account.

Three ways make it (the legacy sign-in, OpenID Connect, /start with a connect token) and
allauth keeps one SocialAccount per provider, so a person who used both sign-in flows has
two SocialAccount rows. TelegramAccount is the canonical link: one per Telegram user and one
per site account. Every way in goes through `link()`, which enforces both rules.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from project.accounts.flows import security_notices
from project.telegram_accounts import conf
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)


class LinkRefused(Exception):
    """A link that would break "one Telegram account = one site account"."""

    reason = "refused"
    message = "This Telegram account cannot be connected."

    def __str__(self):
        return self.reason


class TelegramAccountTaken(LinkRefused):
    reason = "telegram account belongs to another user"
    message = (
        "This Telegram account is already connected to another account on this site. "
        "Sign in with Telegram to use that account, or disconnect it there first."
    )


class OtherTelegramAccountLinked(LinkRefused):
    reason = "site account already linked to another telegram account"
    message = "Your account is already connected to another Telegram account. Disconnect it first."


def telegram_user_from_login_data(provider_id: str, data: dict) -> dict:
    """
    The Telegram user as a `from`-like dict ({id, first_name, last_name, username, photo_url}),
    from either provider's extra_data: the legacy flow's signed fields, or OIDC's ID token claims.
    """
    if provider_id == conf.OIDC_PROVIDER_ID:
        claims = data.get("id_token") or data.get("userinfo") or data
        # Telegram's ID token has one `name`; keep it whole as the first name rather than guess
        # where a first name ends.
        return {
            "id": int(claims["id"]),
            "first_name": claims.get("name") or "",
            "last_name": "",
            "username": claims.get("preferred_username") or "",
            "photo_url": claims.get("picture") or "",
        }
    return {
        "id": int(data["id"]),
        "first_name": data.get("first_name") or "",
        "last_name": data.get("last_name") or "",
        "username": data.get("username") or "",
        "photo_url": data.get("photo_url") or "",
    }


def deep_link(payload: str | None = None) -> str:
    """
    The bot's deep link, `https://t.me/<bot>?start=<payload>` (contract C6). Its base is the
    TELEGRAM_DEEP_LINK_BASE setting: Telegram when deployed; locally the sandbox, whose page
    at the same path stands in for t.me (a t.me link is a dead end on a machine without
    Telegram). `payload` must already be a valid start parameter (A-Za-z0-9_-, at most 64).
    """
    base = (getattr(settings, "TELEGRAM_DEEP_LINK_BASE", "") or "https://t.me").rstrip("/")
    url = f"{base}/{conf.bot_username()}"
    return f"{url}?start={payload}" if payload else url


def account_for(telegram_id: int) -> TelegramAccount | None:
    return TelegramAccount.objects.filter(telegram_id=telegram_id).select_related("user").first()


def _apply_profile(account: TelegramAccount, telegram_user: dict) -> None:
    account.first_name = (telegram_user.get("first_name") or "")[:128]
    account.last_name = (telegram_user.get("last_name") or "")[:128]
    account.username = (telegram_user.get("username") or "")[:64]
    photo_url = telegram_user.get("photo_url") or ""
    if photo_url.startswith("https://") and len(photo_url) <= 500:
        account.photo_url = photo_url


def check_can_link(user, telegram_id: int) -> None:
    """Raise LinkRefused if linking would give a Telegram or site account a second partner."""
    existing = account_for(telegram_id)
    if existing is not None and existing.user_id != user.pk:
        raise TelegramAccountTaken()
    own = TelegramAccount.objects.filter(user_id=user.pk).first()
    if own is not None and own.telegram_id != telegram_id:
        raise OtherTelegramAccountLinked()


def link(user, telegram_user: dict, *, reachable: bool | None = None) -> TelegramAccount:
    """
    Link `user` to the Telegram user (create, or refresh the names of, the TelegramAccount).
    `reachable=True` records that the person can be messaged now (they wrote to the bot).
    """
    telegram_id = int(telegram_user["id"])
    try:
        with transaction.atomic():
            check_can_link(user, telegram_id)
            account = TelegramAccount.objects.select_for_update().filter(telegram_id=telegram_id).first()
            created = account is None
            if created:
                account = TelegramAccount(user=user, telegram_id=telegram_id, linked_at=timezone.now())
            _apply_profile(account, telegram_user)
            if reachable:
                account.reachable = True
                account.unreachable_reason = ""
                account.blocked_at = None
            account.save()
            if created:
                # Every way of connecting comes through here, so this is where the person is told.
                security_notices.telegram_connected(user, account)
    except IntegrityError:
        # Two requests raced to link the same Telegram id or the same user; the unique
        # constraints decided, so re-check to give the loser the right reason.
        check_can_link(user, telegram_id)
        raise
    if created:
        logger.info("telegram account %s linked to user %s", telegram_id, user.pk)
    return account


def unlink(user) -> int | None:
    """Remove the user's Telegram link and both providers' SocialAccounts; the old telegram id or None."""
    from allauth.socialaccount.models import SocialAccount

    with transaction.atomic():
        account = TelegramAccount.objects.filter(user_id=user.pk).first()
        SocialAccount.objects.filter(user_id=user.pk, provider__in=conf.PROVIDER_IDS).delete()
        if account is None:
            return None
        telegram_id = account.telegram_id
        account.delete()
    logger.info("telegram account %s unlinked from user %s", telegram_id, user.pk)
    return telegram_id
