"""The site-wide notice for a person the bot cannot reach on Telegram (they blocked it)."""

from __future__ import annotations

from django.urls import reverse

from project.core.notices import Notice


def telegram_unreachable_notice(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    from project.telegram_accounts.models import TelegramAccount

    account = TelegramAccount.objects.filter(user=user, reachable=False).only("id").first()
    if account is None:
        return []
    return [
        Notice(
            text="Our Telegram bot cannot reach you (it was blocked or stopped), so your "
            "notifications go by email where you have one.",
            level="warning",
            link=reverse("notifications:reconnect"),
            link_text="Reconnect Telegram",
        )
    ]
