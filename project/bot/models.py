from django.conf import settings
from django.db import models
from django.utils import timezone


class StoredUpdate(models.Model):
    """
    One Telegram update, stored before the webhook answers.

    `update_id` is unique: a repeat (Telegram resends anything it did not get a 2xx for,
    in any order) fails to insert and is acknowledged without being handled again. An update
    whose handling failed keeps its error and can be retried by `manage.py retry_updates`;
    Telegram is answered 2xx either way, so it does not resend it.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        HANDLED = "handled", "handled"
        IGNORED = "ignored", "ignored"
        FAILED = "failed", "failed"

    update_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    # Why an update was ignored, or the error that made handling fail.
    error = models.TextField(blank=True)
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self):
        return f"update {self.update_id} ({self.kind or '?'}, {self.status})"


class ConversationQuerySet(models.QuerySet):
    def with_unread(self):
        """Annotate `unread`: messages from the person that no staff member has seen yet."""
        return self.annotate(
            unread=models.Count(
                "messages",
                filter=models.Q(messages__direction=SupportMessage.Direction.IN)
                & (models.Q(staff_read_at__isnull=True) | models.Q(messages__created_at__gt=models.F("staff_read_at"))),
            )
        )


class Conversation(models.Model):
    """A person's support conversation with the staff: one per Telegram user (= private chat)."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        CLOSED = "closed", "closed"

    telegram_id = models.BigIntegerField(unique=True)
    # The site account, when the Telegram user is linked to one (kept in step on each message).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_conversations"
    )
    first_name = models.CharField(max_length=128, blank=True)
    last_name = models.CharField(max_length=128, blank=True)
    username = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When a staff member last opened the thread; incoming messages after it are unread.
    staff_read_at = models.DateTimeField(null=True, blank=True)
    # Since when the person has been waiting for an answer: their first message after the last
    # staff reply (None while nobody waits). The inbox sorts on it: longest wait first.
    waiting_since = models.DateTimeField(null=True, blank=True, db_index=True)
    # How often the bot acknowledged during this wait (the first message, once more later).
    acknowledgements = models.PositiveSmallIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-last_message_at"]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or (f"@{self.username}" if self.username else f"Telegram {self.telegram_id}")


class SupportMessage(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "from the person"
        OUT = "out", "from staff"

    class Kind(models.TextChoices):
        TEXT = "text", "text"
        PHOTO = "photo", "photo"
        DOCUMENT = "document", "document"
        VOICE = "voice", "voice note"
        VIDEO = "video", "video"
        VIDEO_NOTE = "video_note", "video note"
        AUDIO = "audio", "audio"
        ANIMATION = "animation", "animation"
        STICKER = "sticker", "sticker"
        LOCATION = "location", "location"
        VENUE = "venue", "venue"
        CONTACT = "contact", "contact"
        POLL = "poll", "poll"
        DICE = "dice", "dice"
        OTHER = "other", "other message"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.TEXT)
    text = models.TextField(blank=True)
    caption = models.TextField(blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    # The person's message in their chat with the bot (incoming only).
    telegram_message_id = models.BigIntegerField(null=True, blank=True)
    # The staff member who wrote an outgoing reply (on the site or in the staff group).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="support_replies"
    )
    # The outbox row that carries an outgoing reply to Telegram; its status is shown in the thread.
    delivery = models.ForeignKey(
        "notifications.Delivery", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    update = models.ForeignKey(StoredUpdate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.get_direction_display()}: {self.summary}"

    @property
    def summary(self) -> str:
        if self.kind == self.Kind.TEXT:
            return self.text
        label = self.get_kind_display().capitalize()
        if self.file_name:
            label += f" {self.file_name}"
        return f"[{label}] {self.caption}".strip()


class TelegramStop(models.Model):
    """What the bot's /stop turned off for a person (the kinds that were on in Telegram), so
    /start turns exactly those back on. One per person while a /stop is pending."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_stop")
    kinds = models.JSONField(default=list)
    stopped_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"/stop of user {self.user_id} ({', '.join(self.kinds) or 'nothing was on'})"
