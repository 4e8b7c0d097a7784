"""The staff support inbox: conversations, a thread, replies. Staff only (`is_staff`)."""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from project.bot.flows import support
from project.bot.forms import ConversationForm, ReplyForm
from project.bot.models import Conversation

FILTERS = {"waiting": "Waiting longest", "open": "Open", "closed": "Closed", "all": "All"}


def staff_required(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can see the support inbox.")
        return view(request, *args, **kwargs)

    return wrapper


@staff_required
def inbox(request):
    current = request.GET.get("status", "open")
    if current not in FILTERS:
        current = "open"
    if current == "waiting":
        # Who has waited longest for an answer comes first (issue 13 item 4).
        conversations = support.waiting_longest().with_unread().select_related("user", "assignee")
    else:
        conversations = Conversation.objects.with_unread().select_related("user", "assignee")
        if current != "all":
            conversations = conversations.filter(status=current)
        conversations = conversations.order_by("-last_message_at", "-pk")
    if request.GET.get("mine"):
        conversations = conversations.filter(assignee=request.user)
    page = Paginator(conversations, 50).get_page(request.GET.get("page"))
    counts = {
        "waiting": support.waiting_longest().count(),
        "open": Conversation.objects.filter(status=Conversation.Status.OPEN).count(),
        "closed": Conversation.objects.filter(status=Conversation.Status.CLOSED).count(),
    }
    return render(
        request,
        "bot/inbox.html",
        {"page": page, "current": current, "filters": FILTERS, "counts": counts, "mine": bool(request.GET.get("mine"))},
    )


@staff_required
def conversation(request, pk: int):
    conversation = get_object_or_404(Conversation.objects.select_related("user", "assignee"), pk=pk)
    thread = conversation.messages.select_related("author", "delivery")
    support.mark_read(conversation)
    return render(
        request,
        "bot/conversation.html",
        {
            "conversation": conversation,
            "thread": thread,
            "reply_form": ReplyForm(),
            "conversation_form": ConversationForm(
                initial={"assignee": conversation.assignee, "status": conversation.status}
            ),
        },
    )


@staff_required
@require_POST
def reply(request, pk: int):
    conversation = get_object_or_404(Conversation.objects.select_related("user"), pk=pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        support.reply(conversation, request.user, form.cleaned_data["text"])
        messages.success(request, "Reply queued for Telegram.")
        return redirect("bot:conversation", pk=conversation.pk)
    thread = conversation.messages.select_related("author", "delivery")
    return render(
        request,
        "bot/conversation.html",
        {
            "conversation": conversation,
            "thread": thread,
            "reply_form": form,
            "conversation_form": ConversationForm(
                initial={"assignee": conversation.assignee, "status": conversation.status}
            ),
        },
        status=400,
    )


@staff_required
@require_POST
def update_conversation(request, pk: int):
    conversation = get_object_or_404(Conversation, pk=pk)
    if request.POST.get("action") == "assign_me":
        support.assign(conversation, request.user)
        messages.success(request, "Assigned to you.")
        return redirect("bot:conversation", pk=conversation.pk)
    form = ConversationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That change could not be made.")
        return redirect("bot:conversation", pk=conversation.pk)
    support.assign(conversation, form.cleaned_data["assignee"])
    support.set_status(conversation, form.cleaned_data["status"])
    messages.success(request, "Conversation updated.")
    return redirect("bot:conversation", pk=conversation.pk)
