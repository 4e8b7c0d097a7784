from django.conf import settings
from django.db import models
from django.utils import timezone


class TelegramAccountQuerySet(models.QuerySet):
    def for_chat(self, chat_id: int):
        """The account linked to a private chat (a Telegram user id is their chat id with the bot)."""
        return self.filter(telegram_id=chat_id).select_related("user").first()


class TelegramAccount(models.Model):
    """
    The one link between a site account and a Telegram user.

    Whichever way it was made (the legacy sign-in, OpenID Connect, or /start with a connect
    token in the bot), there is one row per Telegram user and one per site account. The
    Telegram user id is also the id of the private chat with the bot, so this row is where
    notifications are sent, and where we remember whether the person blocked the bot.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_account")
    telegram_id = models.BigIntegerField(unique=True)
    username = models.CharField(max_length=64, blank=True)
    first_name = models.CharField(max_length=128, blank=True)
    last_name = models.CharField(max_length=128, blank=True)
    photo_url = models.URLField(max_length=500, blank=True)
    # False once Telegram told us the person blocked the bot (403, or my_chat_member "kicked").
    reachable = models.BooleanField(default=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    unreachable_reason = models.CharField(max_length=200, blank=True)
    # The newest my_chat_member change applied (its `date`, then its update_id): Telegram
    # retries late, so an older "kicked" must not undo a newer "member" (bot/flows/chat_member.py).
    chat_member_date = models.BigIntegerField(null=True, blank=True)
    chat_member_update_id = models.BigIntegerField(null=True, blank=True)
    linked_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TelegramAccountQuerySet.as_manager()

    class Meta:
        verbose_name = "Telegram account"

    def __str__(self):
        return f"@{self.username}" if self.username else f"Telegram {self.telegram_id}"

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or str(self)

    def mark_unreachable(self, reason: str) -> bool:
        """Record that the bot cannot reach this person; True if that is news."""
        changed = self.reachable
        self.reachable = False
        self.unreachable_reason = reason[:200]
        self.blocked_at = self.blocked_at if not changed else timezone.now()
        self.save(update_fields=["reachable", "unreachable_reason", "blocked_at", "updated_at"])
        return changed

    def mark_reachable(self) -> bool:
        """The person unblocked the bot or pressed Start again; True if that is news."""
        changed = not self.reachable
        self.reachable = True
        self.unreachable_reason = ""
        self.blocked_at = None
        self.save(update_fields=["reachable", "unreachable_reason", "blocked_at", "updated_at"])
        return changed


class StartTokenQuerySet(models.QuerySet):
    def unused(self):
        return self.filter(used_at__isnull=True)


class StartToken(models.Model):
    """
    A one-time token for `https://t.me/<bot>?start=<token>`: pressing Start in Telegram with it
    links that Telegram chat to the site account it was issued for.

    Only a hash of the token is stored, so a database dump does not let anyone link their
    Telegram account to someone else's site account.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_start_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by_telegram_id = models.BigIntegerField(null=True, blank=True)

    objects = StartTokenQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self):
        return f"start token of user {self.user_id} (expires {self.expires_at:%Y-%m-%d %H:%M})"

    @property
    def is_expired(self) -> bool:
        return timezone.now() >= self.expires_at
