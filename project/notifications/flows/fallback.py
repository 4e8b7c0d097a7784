"""
Telegram answered 403 (the person blocked the bot, or their account is deactivated).

Mark them unreachable on Telegram (the site then shows them a notice with a way to
reconnect, see notices.py), and send the notification by email instead, when they have a
verified address and it is not already going there. The bot's own chatter (command answers,
edits) has no email counterpart.
"""

from __future__ import annotations

import logging

from ..models import Delivery
from ..outbox import enqueue_on_commit
from .notify import email_delivery

logger = logging.getLogger(__name__)


def telegram_unreachable(delivery: Delivery, reason: str) -> Delivery | None:
    from project.telegram_accounts.models import TelegramAccount

    account = TelegramAccount.objects.for_chat(delivery.chat_id) if delivery.chat_id else None
    if account is not None and account.mark_unreachable(reason or "blocked"):
        logger.info("Telegram account %s is unreachable now: %s", account.pk, reason)
    notification = delivery.notification
    if notification is None:
        return None
    if notification.deliveries.filter(channel=Delivery.Channel.EMAIL).exclude(
        status__in=[Delivery.Status.FAILED, Delivery.Status.SKIPPED]
    ).exists():
        return None  # it is going (or went) by email already
    fallback = email_delivery(notification, reason_if_none="Telegram is unreachable and there is no verified email address.")
    fallback.save()
    if fallback.status == Delivery.Status.QUEUED:
        enqueue_on_commit([fallback.pk])
    return fallback
