"""Thin views: the notifications list, the settings grid, the Telegram reconnect page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import kinds
from .flows import addresses, inbox, preferences


@login_required
def notification_list(request):
    page = Paginator(inbox.for_user(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "notifications/list.html", {
        "page": page,
        "unread": inbox.unread_count(request.user),
    })


@require_POST
@login_required
def mark_read(request, pk: int):
    notification = inbox.mark_read(request.user, pk)
    follow = request.POST.get("follow") == "1" and notification is not None and notification.link
    if follow and url_has_allowed_host_and_scheme(notification.link, allowed_hosts={request.get_host()}):
        return redirect(notification.link)
    return redirect("notifications:list")


@require_POST
@login_required
def mark_all_read(request):
    count = inbox.mark_all_read(request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    return redirect("notifications:list")


@login_required
def settings_page(request):
    user = request.user
    if request.method == "POST":
        enabled = {
            (kind.code, channel)
            for kind in kinds.KINDS.values()
            for channel in kinds.CHANNELS
            if request.POST.get(f"{kind.code}__{channel}") == "on"
        }
        preferences.save(user, enabled=enabled, everything_off=request.POST.get("all_off") == "on")
        messages.success(request, "Your notification settings are saved.")
        return redirect("notifications:settings")
    telegram = addresses.telegram_account(user)
    return render(request, "notifications/settings.html", {
        "rows": preferences.table(user),
        "channels": [(code, kinds.CHANNEL_LABELS[code]) for code in kinds.CHANNELS],
        "all_off": preferences.all_off(user),
        "telegram": telegram,
        "email": addresses.verified_email(user),
    })


@login_required
def reconnect_telegram(request):
    """How to let the bot reach you again: open it and press Start (or unblock it)."""
    telegram = addresses.telegram_account(request.user)
    start_link = ""
    try:
        from project.telegram_accounts.flows.connect_via_bot import start_link as make_start_link
    except ImportError:  # the connect flow is not installed on this stage
        make_start_link = None
    if make_start_link is not None:
        start_link = make_start_link(request.user)
    return render(request, "notifications/reconnect.html", {"telegram": telegram, "start_link": start_link})
