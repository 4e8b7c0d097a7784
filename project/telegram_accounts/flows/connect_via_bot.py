"""
Connecting Telegram through the bot: the account page links to
`https://t.me/<bot>?start=<token>`; Telegram opens the chat with the bot, and pressing Start
sends `/start <token>`.

Nothing links on Start alone: whoever presses Start on a link (someone else's, forwarded or
shoulder-surfed, included) is first asked in the chat "Link this Telegram to the account
a…@example.com?" with Link and Cancel (project/bot/flows/link_buttons.py). `check_start_token`
says whether the token could link and to which account, using nothing up; `confirm_link`
(the Link button) links and uses the token; Cancel changes nothing, so the owner can still
use their link. `redeem_start_token` checks and links at once (for callers that asked first
themselves).

A token is random (32 characters of A-Za-z0-9_-, within Telegram's 64-character limit for
start parameters), stored only as a hash, bound to one account, expires after
TELEGRAM_START_TOKEN_TTL seconds and links at most once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from project.telegram_accounts import conf
from project.telegram_accounts.flows import linking
from project.telegram_accounts.models import StartToken, TelegramAccount

logger = logging.getLogger(__name__)

# Unused tokens a user may hold at once (one per account page view); older ones are dropped.
MAX_OPEN_TOKENS = 5


class InvalidStartToken(Exception):
    """The /start token cannot link anything; `.reason` says why (for logs and the bot's answer)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def hash_start_token(token: str) -> str:
    """What StartToken keeps of a token (and a stored `/start` update: project.bot.updates)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_start_token(user) -> str:
    """A new single-use token for `user`; only its hash is kept."""
    now = timezone.now()
    token = secrets.token_urlsafe(24)  # 32 characters of A-Za-z0-9_-
    with transaction.atomic():
        StartToken.objects.filter(user=user, expires_at__lte=now).delete()
        StartToken.objects.create(
            user=user,
            token_hash=hash_start_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=conf.start_token_ttl()),
        )
        stale = list(
            StartToken.objects.unused()
            .filter(user=user)
            .order_by("-created_at", "-pk")
            .values_list("pk", flat=True)[MAX_OPEN_TOKENS:]
        )
        if stale:
            StartToken.objects.filter(pk__in=stale).delete()
    return token


def start_link(user) -> str:
    """The deep link that opens the bot with a fresh token for `user`."""
    return linking.deep_link(issue_start_token(user))  # t.me, or the sandbox locally (C6)


def _usable(start_token: StartToken | None) -> StartToken:
    if start_token is None:
        raise InvalidStartToken("unknown")
    if start_token.used_at is not None:
        raise InvalidStartToken("used")
    if start_token.is_expired:
        raise InvalidStartToken("expired")
    return start_token


def check_start_token(token: str, telegram_user: dict) -> StartToken:
    """
    The token's StartToken if `/start <token>` from this Telegram user could link (nothing is
    used up or linked). Raises InvalidStartToken as redeem_start_token does, and with reason
    "already linked" when this Telegram user is already linked to the token's account.
    """
    token = (token or "").strip()
    if not token or len(token) > 64:
        raise InvalidStartToken("unknown")
    return check_start_token_hash(hash_start_token(token), telegram_user)


def check_start_token_hash(token_hash: str, telegram_user: dict) -> StartToken:
    """check_start_token for a token known only by its hash: a stored `/start` update keeps
    no more (project.bot.updates.for_storage)."""
    start_token = _usable(StartToken.objects.select_related("user").filter(token_hash=token_hash).first())
    telegram_id = int(telegram_user["id"])
    if TelegramAccount.objects.filter(telegram_id=telegram_id, user_id=start_token.user_id).exists():
        raise InvalidStartToken("already linked")
    try:
        linking.check_can_link(start_token.user, telegram_id)
    except linking.LinkRefused as exc:
        raise InvalidStartToken(exc.reason) from None
    return start_token


def confirm_link(start_token_id: int, telegram_user: dict) -> TelegramAccount:
    """The Link button: link the Telegram user to the token's account and use the token up.
    Raises InvalidStartToken like redeem_start_token."""
    with transaction.atomic():
        start_token = StartToken.objects.select_for_update().select_related("user").filter(pk=start_token_id).first()
        return _link(_usable(start_token), telegram_user)


def _link(start_token: StartToken, telegram_user: dict) -> TelegramAccount:
    telegram_id = int(telegram_user["id"])
    try:
        # The person just wrote to the bot, so the bot can reach them.
        account = linking.link(start_token.user, telegram_user, reachable=True)
    except linking.LinkRefused as exc:
        raise InvalidStartToken(exc.reason) from None
    start_token.used_at = timezone.now()
    start_token.used_by_telegram_id = telegram_id
    start_token.save(update_fields=["used_at", "used_by_telegram_id"])
    logger.info("telegram account %s connected to user %s through the bot", telegram_id, start_token.user_id)
    return account


def redeem_start_token(token: str, telegram_user: dict) -> TelegramAccount:
    """
    Link the Telegram user who sent `/start <token>` to the token's account.

    `telegram_user` is the update's `from` object (id, first_name, last_name, username).
    Raises InvalidStartToken with reason "unknown", "expired", "used",
    "telegram account belongs to another user" or
    "site account already linked to another telegram account".
    """
    token = (token or "").strip()
    if not token or len(token) > 64:
        raise InvalidStartToken("unknown")
    with transaction.atomic():
        start_token = StartToken.objects.select_for_update().select_related("user").filter(token_hash=hash_start_token(token)).first()
        return _link(_usable(start_token), telegram_user)
