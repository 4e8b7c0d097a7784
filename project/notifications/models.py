"""
Notifications, their deliveries, people's preferences, and the shared rate limiter's slots.

A Notification is what happened, for one person (shown on the site whatever the channels).
A Delivery is one attempt to tell someone something on one channel; it is the outbox row:
written in the transaction of the event, enqueued to SQS after commit, claimed and settled
by the sender. Deliveries without a notification are the bot's own chatter (command
answers, message edits, callback answers, staff replies), made by outbox.send_telegram().
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from . import kinds


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40, choices=kinds.CHOICES)
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    link = models.CharField(max_length=500, blank=True, help_text="A site path or an absolute URL.")
    # Telegram's inline keyboard: rows of {"text", "callback_data"} or {"text", "url"}.
    buttons = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notif_user_created")]

    def __str__(self):
        return f"{self.kind} for {self.user_id}"

    @property
    def kind_info(self) -> kinds.Kind:
        return kinds.KINDS.get(self.kind) or kinds.Kind(self.kind, self.kind, "", frozenset())

    @property
    def title(self) -> str:
        return self.subject or self.kind_info.label

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def absolute_link(self) -> str:
        if not self.link or "://" in self.link:
            return self.link
        return settings.SITE_URL + (self.link if self.link.startswith("/") else "/" + self.link)


class Delivery(models.Model):
    class Channel(models.TextChoices):
        TELEGRAM = kinds.TELEGRAM, "Telegram"
        EMAIL = kinds.EMAIL, "Email"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        UNREACHABLE = "unreachable", "Unreachable"

    FINAL_STATUSES = (Status.SENT, Status.FAILED, Status.SKIPPED, Status.UNREACHABLE)

    class Method(models.TextChoices):
        SEND_MESSAGE = "sendMessage"
        EDIT_MESSAGE_TEXT = "editMessageText"
        EDIT_MESSAGE_REPLY_MARKUP = "editMessageReplyMarkup"
        ANSWER_CALLBACK_QUERY = "answerCallbackQuery"
        EMAIL = "email"

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    method = models.CharField(max_length=30, choices=Method.choices)
    # Telegram: the chat to send to. Email: the address is resolved when sending.
    chat_id = models.BigIntegerField(null=True, blank=True)
    # Telegram: the Bot API parameters (without chat_id). Email: unused.
    payload = models.JSONField(default=dict, blank=True)
    address = models.CharField(max_length=254, blank=True, help_text="Email: where it went.")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    provider_message_id = models.CharField(max_length=100, blank=True)
    last_error = models.TextField(blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    # When it should go (now, or later after a retryable failure); the sweep's yardstick.
    due_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "due_at"], name="delivery_status_due")]

    def __str__(self):
        return f"Delivery {self.pk} ({self.channel} {self.method}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class NotificationPreference(models.Model):
    """One person's choice for one kind on one channel; absent means the kind's default."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=40, choices=kinds.CHOICES)
    channel = models.CharField(max_length=10, choices=Delivery.Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "channel"], name="notif_pref_unique"),
        ]


class NotificationSettings(models.Model):
    """Per-person switches that are not about one kind."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings")
    # Everything off, except the kinds that cannot be turned off (security).
    all_off = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification settings"


class RateLimitSlot(models.Model):
    """
    The next free send time (Unix seconds) for one rate-limit key ("global", "chat:<id>"),
    shared by every sender instance. See ratelimit.py and docs/OUTBOX.md.

    The "global" row also holds the bot's adaptive rate: after a 429 every instance pauses
    until `paused_until`, and the rate backs off and recovers step by step (0: not adapted,
    the configured rate applies). Chat rows leave these at 0.
    """

    key = models.CharField(max_length=64, primary_key=True)
    next_at = models.FloatField(default=0.0)
    paused_until = models.FloatField(default=0.0)
    rate = models.FloatField(default=0.0)
    rate_floor = models.FloatField(default=0.0, help_text="Highest rate that ran clean since the last 429.")
    rate_ceiling = models.FloatField(default=0.0, help_text="Lowest rate that drew a 429 (0: none known).")
    rate_changed_at = models.FloatField(default=0.0)

    def __str__(self):
        return f"{self.key} next at {self.next_at}"
