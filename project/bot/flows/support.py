"""
Support conversations: what people write to the bot reaches the staff, and staff replies
reach the person in Telegram.

Any message from a person that is not one of the bot's commands joins that person's
conversation (one per Telegram user; a closed one reopens). Photos, documents, voice notes
and the like are recorded as such, with their caption; the files stay in Telegram. Staff
read and answer in the inbox on the site (project/bot/views.py); a reply is an outbox row,
and the thread shows its delivery status. With TELEGRAM_STAFF_GROUP_ID set, each message is
also forwarded to the staff group (flows/staff_group.py), where replying answers the person.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from project.bot import replies
from project.bot.models import Conversation, StoredUpdate, SupportMessage
from project.bot.updates import Message
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)

MAX_REPLY_LENGTH = 4096  # Telegram's limit for one message


class EmptyReply(ValueError):
    pass


def _kind(message: Message) -> str:
    return message.kind if message.kind in SupportMessage.Kind.values else SupportMessage.Kind.OTHER


def message_from_person(message: Message, stored: StoredUpdate | None = None) -> tuple[bool, str]:
    person = message.sender
    account = TelegramAccount.objects.for_chat(person.id)
    now = timezone.now()
    conversation, created = Conversation.objects.select_for_update().get_or_create(
        telegram_id=person.id, defaults={"created_at": now}
    )
    conversation.first_name = person.first_name
    conversation.last_name = person.last_name
    conversation.username = person.username
    if account is not None:
        conversation.user = account.user
    reopened = conversation.status == Conversation.Status.CLOSED
    conversation.status = Conversation.Status.OPEN
    conversation.last_message_at = now
    conversation.save()
    support_message = SupportMessage.objects.create(
        conversation=conversation,
        direction=SupportMessage.Direction.IN,
        kind=_kind(message),
        text=message.text,
        caption=message.caption,
        file_name=message.file_name,
        telegram_message_id=message.message_id,
        update=stored,
        created_at=now,
    )
    from project.bot.flows import staff_group

    staff_group.forward(support_message)
    state = "new" if created else ("reopened" if reopened else "open")
    return True, f"support message {support_message.pk} in {state} conversation {conversation.pk}"


def reply(conversation: Conversation, author, text: str) -> SupportMessage:
    """A staff member answers; the reply goes out through the outbox to the person's chat."""
    text = (text or "").strip()
    if not text:
        raise EmptyReply("A reply needs some text.")
    if len(text) > MAX_REPLY_LENGTH:
        raise ValueError(f"A reply can be at most {MAX_REPLY_LENGTH} characters.")
    with transaction.atomic():
        now = timezone.now()
        # Plain text, no parse mode: whatever staff type arrives exactly as typed.
        delivery = replies.send(conversation.telegram_id, "sendMessage", {"text": text}, user=conversation.user)
        support_message = SupportMessage.objects.create(
            conversation=conversation,
            direction=SupportMessage.Direction.OUT,
            kind=SupportMessage.Kind.TEXT,
            text=text,
            author=author,
            delivery=delivery,
            created_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now, staff_read_at=now)
    logger.info("staff user %s replied in conversation %s", getattr(author, "pk", None), conversation.pk)
    return support_message


def mark_read(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(staff_read_at=timezone.now())


def assign(conversation: Conversation, assignee) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)


def set_status(conversation: Conversation, status: str) -> None:
    if status not in Conversation.Status.values:
        raise ValueError(f"unknown status {status!r}")
    Conversation.objects.filter(pk=conversation.pk).update(status=status)
