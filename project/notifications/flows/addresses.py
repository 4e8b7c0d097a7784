"""Where a person can be reached: their Telegram chat (if connected and reachable) and their
verified primary email (allauth's EmailAddress)."""

from __future__ import annotations


def telegram_account(user):
    from project.telegram_accounts.models import TelegramAccount

    return TelegramAccount.objects.filter(user=user).first()


def verified_email(user) -> str:
    """The verified primary address, else any verified one; "" when there is none."""
    from allauth.account.models import EmailAddress

    addresses = list(EmailAddress.objects.filter(user=user, verified=True).order_by("-primary", "id"))
    return addresses[0].email if addresses else ""
