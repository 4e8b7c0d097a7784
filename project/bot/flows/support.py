"""
Support conversations: what people write to the bot reaches the staff, and staff replies
reach the person in Telegram.

Any message from a person that is not one of the bot's commands joins that person's
conversation (one per Telegram user; a closed one reopens). Photos, documents, voice notes
and the like are recorded as such, with their caption; the files stay in Telegram. Staff
read and answer in the inbox on the site (project/bot/views.py); a reply is an outbox row,
and the thread shows its delivery status. With TELEGRAM_STAFF_GROUP_ID set, each message is
also forwarded to the staff group (flows/staff_group.py), where replying answers the person.

So that a person can tell their message arrived, the bot acknowledges the first message of a
conversation (a new one, or one reopened after staff closed it), and once more when they
write again after SUPPORT_ACK_AGAIN_AFTER with nobody having answered; never more often. The
acknowledgement needs no result, so it rides in the webhook's answer (contract C2). A staff
reply ends the wait; closing a conversation tells the person (through the outbox). The
inbox's "Waiting longest" view lists open conversations by how long the person has waited.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from project.bot import conf, replies
from project.bot.models import Conversation, StoredUpdate, SupportMessage
from project.bot.updates import Message
from project.core.logging import redact
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
    if reopened or conversation.waiting_since is None:
        conversation.waiting_since, conversation.acknowledgements = now, 0
    acknowledgement = _acknowledgement(conversation, now)
    conversation.save()
    support_message = SupportMessage.objects.create(
        conversation=conversation,
        direction=SupportMessage.Direction.IN,
        kind=_kind(message),
        # A live token a person pastes (their t.me/<bot>?start=... link, a sign-in link or
        # code) would be shown to staff and forwarded to the staff group: kept redacted, as
        # in the logs (project/core/logging.py).
        text=redact(message.text),
        caption=redact(message.caption),
        file_name=message.file_name,
        telegram_message_id=message.message_id,
        update=stored,
        created_at=now,
    )
    from project.bot.flows import staff_group

    staff_group.forward(support_message)
    if acknowledgement:
        replies.answer_with(message.chat_id, acknowledgement, {"reopened": reopened},
                            user=account.user if account else None)
    state = "new" if created else ("reopened" if reopened else "open")
    return True, f"support message {support_message.pk} in {state} conversation {conversation.pk}"


def _acknowledgement(conversation: Conversation, now) -> str | None:
    """Which acknowledgement this message gets (a template), updating the conversation's count."""
    if conversation.acknowledgements == 0:
        template = "support_ack"
    elif conversation.acknowledgements == 1 and (
        now - conversation.waiting_since
    ).total_seconds() >= conf.support_ack_again_after():
        template = "support_ack_again"
    else:
        return None
    conversation.acknowledgements += 1
    conversation.acknowledged_at = now
    return template


def reply(conversation: Conversation, author, text: str) -> SupportMessage:
    """A staff member answers; the reply goes out through the outbox to the person's chat."""
    text = (text or "").strip()
    if not text:
        raise EmptyReply("A reply needs some text.")
    # Telegram counts in UTF-16 code units (an emoji is two), so that is what is measured.
    if len(text.encode("utf-16-le")) // 2 > MAX_REPLY_LENGTH:
        raise ValueError(f"A reply can be at most {MAX_REPLY_LENGTH} characters (an emoji counts as two).")
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
        # Answered: nobody waits any more, and the next message starts a new wait.
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=now, staff_read_at=now, waiting_since=None, acknowledgements=0
        )
    logger.info("staff user %s replied in conversation %s", getattr(author, "pk", None), conversation.pk)
    return support_message


def mark_read(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(staff_read_at=timezone.now())


def assign(conversation: Conversation, assignee) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)


def set_status(conversation: Conversation, status: str) -> None:
    """Open or close a conversation; closing tells the person (once, however often it is pressed)."""
    if status not in Conversation.Status.values:
        raise ValueError(f"unknown status {status!r}")
    with transaction.atomic():
        if status == Conversation.Status.CLOSED:
            closed = Conversation.objects.filter(pk=conversation.pk, status=Conversation.Status.OPEN).update(
                status=status, waiting_since=None, acknowledgements=0
            )
            if closed:
                replies.say(conversation.telegram_id, "support_closed", {}, user=conversation.user)
            return
        Conversation.objects.filter(pk=conversation.pk).update(status=status)


def waiting_longest():
    """Open conversations whose person waits for an answer, longest wait first."""
    return Conversation.objects.filter(status=Conversation.Status.OPEN, waiting_since__isnull=False).order_by(
        "waiting_since", "pk"
    )
