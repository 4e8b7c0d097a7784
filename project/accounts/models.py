from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """
    A person on the site. There are no passwords: people sign in with their email (a code or
    a link) or with Telegram. allauth fills `username` with a generated value; an account
    created through Telegram has no email until the person adds one.
    """

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def __str__(self):
        return self.email or self.get_full_name() or self.username

    # No password ever signs anyone in (issue 12 item 1), whoever set it and however:
    # `createsuperuser` and the admin write a hash straight into `password`, so refusing
    # here, where every authentication backend and password form checks, closes all of them.
    def set_password(self, raw_password):
        self.set_unusable_password()

    def check_password(self, raw_password):
        return False

    @property
    def display_name(self) -> str:
        """
        How this person is shown anywhere on the site and in messages (contract C4): the name
        they chose for their profile (or their account's own name), else their Telegram name,
        else the part of their email before the @ (never the whole address: others must not
        learn it from us). Never `username`: allauth generates it ("alice1796027424") and
        nobody chose it.
        """
        profile = getattr(self, "meetups_profile", None)
        if profile is not None and profile.display_name.strip():
            return profile.display_name.strip()
        full_name = self.get_full_name().strip()
        if full_name:
            return full_name
        telegram = getattr(self, "telegram_account", None)
        if telegram is not None and telegram.display_name:
            return telegram.display_name
        if self.email:
            return self.email.split("@")[0]
        return f"Member {self.pk}" if self.pk else "New member"

    @property
    def owner_label(self) -> str:
        """
        How a question names this account *to its owner* ("Link this Telegram to ...?",
        "Continue as ...?"): its full email address, the one thing about an account that
        another person cannot make theirs read the same. Display names and Telegram names
        are free text an attacker copies ("Carol"), and a masked address keeps only what an
        attacker chooses too ("c…@gmail.com"). An account without an address is named by its
        display name, said to have none, so it never reads like one that has. Only for pages
        and messages that go to someone who already holds a proof for the account (a signed
        Telegram press, a connect link its owner made): never where others see it.
        """
        if self.email:
            return self.email
        return f"“{self.display_name}” (an account without an email address)"


class SignInMethod(models.Model):
    """
    A way this account has signed in ("email", "telegram", "telegram-button",
    "telegram-mini-app"), so that a sign-in through a way it never used before brings a
    security notice (project/accounts/flows/security_notices.py). One row per account and way.
    """

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="sign_in_methods")
    method = models.CharField(max_length=32)
    first_used_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "method"], name="accounts_sign_in_method_once")]

    def __str__(self):
        return f"{self.user_id} signs in with {self.method}"


def user_display(user) -> str:
    """allauth's ACCOUNT_USER_DISPLAY: its messages ("Successfully signed in as ...") and
    `{% user_display %}` show the display name, never the generated username."""
    return getattr(user, "display_name", "") or str(user)


class EmailSignIn(models.Model):
    """
    One sign-in email: its code and its link are two ways to finish the same sign-in, so
    using either ends both. Only HMACs of the code and the link token are stored; the email
    itself is the only place they exist in the clear.

    The row exists before any account does: for an email nobody has confirmed there is a
    pending row and no User. The account is created when the code or link is used.
    """

    class Outcome(models.TextChoices):
        SIGNED_IN_BY_CODE = "code", "signed in with the code"
        SIGNED_IN_BY_LINK = "link", "signed in with the link"
        TOO_MANY_ATTEMPTS = "attempts", "too many wrong codes"
        SUPERSEDED = "superseded", "a newer email was requested"

    email = models.EmailField()
    code_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    next_url = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="email_sign_ins"
    )

    class Meta:
        indexes = [models.Index(fields=["email", "created_at"])]

    def __str__(self):
        return f"sign-in for {self.email} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_pending(self) -> bool:
        return self.finished_at is None and timezone.now() < self.expires_at
