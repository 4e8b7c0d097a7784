"""
The Accept and Decline buttons under a match-request notification, pressed in Telegram.

The button's callback_data is `mr:<id>:accept` or `mr:<id>:decline`. The press counts only
when it comes from the Telegram account linked to the person the request was sent to; the
request is answered at most once (the meetups flow locks the row). Every press gets its
callback query answered (Telegram shows a spinner until then), and the message is edited to
show the result without the buttons, also when the press was late: a second press or a stale
button learns what became of the request instead of seeing live buttons that do nothing.
"""

from __future__ import annotations

import logging
import re

from project.bot import replies
from project.bot.flows.edits import show_result
from project.bot.updates import CallbackQuery
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)

CALLBACK_DATA = re.compile(r"^mr:(\d{1,18}):(accept|decline)$")


def press(query: CallbackQuery) -> tuple[bool, str]:
    from project.meetups.flows.match_requests import AlreadyAnswered, NotYourRequest, answer_match_request
    from project.meetups.models import MatchRequest

    chat_id = query.chat_id or query.sender.id
    matched = CALLBACK_DATA.match(query.data)
    if not matched:
        replies.answer_callback(query.id, chat_id, "This button no longer works.")
        return True, f"unknown button {query.data[:40]!r}"
    request_id, accept = int(matched.group(1)), matched.group(2) == "accept"

    account = TelegramAccount.objects.for_chat(query.sender.id)
    if account is None:
        replies.answer_callback(query.id, chat_id, "This Telegram account is not connected to the site.", show_alert=True)
        return True, f"button pressed by unknown telegram user {query.sender.id}"
    user = account.user
    try:
        match_request = answer_match_request(request_id, user, accept)
    except NotYourRequest as exc:
        # Not the recipient (a forwarded or forged button): the message stays as it is.
        replies.answer_callback(query.id, chat_id, str(exc), user=user, show_alert=True)
        return True, f"match request {request_id} is not for user {user.pk}"
    except AlreadyAnswered as exc:
        replies.answer_callback(query.id, chat_id, str(exc), user=user)
        _show_result(query, chat_id, user, str(exc))
        return True, f"match request {request_id} already {exc.status}"
    except MatchRequest.DoesNotExist:
        replies.answer_callback(query.id, chat_id, "This request no longer exists.", user=user)
        _show_result(query, chat_id, user, "This request no longer exists.")
        return True, f"match request {request_id} does not exist"

    result = "You accepted this request." if accept else "You declined this request."
    replies.answer_callback(query.id, chat_id, "Accepted." if accept else "Declined.", user=user)
    _show_result(query, chat_id, user, result)
    return True, f"match request {match_request.pk} {'accepted' if accept else 'declined'}"


def _show_result(query: CallbackQuery, chat_id: int, user, result: str) -> None:
    """Edit the notification: its text (with its formatting) and the result, no buttons."""
    show_result(query, user, result)
