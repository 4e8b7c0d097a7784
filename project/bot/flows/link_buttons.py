"""
Linking through the bot asks first (issue 12 item 4).

`/start <token>` from a Telegram user who could be linked gets a question, not a link:
"Link this Telegram to the account ada@example.com on Meetups?" with Link and Cancel.

The question names the account by its *full* address and by nothing else (User.owner_label).
A masked one ("a…@example.com") kept only characters an attacker chooses for their own
account (the first letter and a common domain), so "link to a…@gmail.com?" read the same for alice@gmail.com and
for the attacker's ax3@gmail.com, and someone sent the attacker's link as "connect your
Telegram" pressed Link. The address is the one thing the attacker cannot copy; the display
name is free text they can (a name "Alice Smith (alice@gmail.com)" would put Alice's address
in the attacker's question, ahead of the real one), so it is not shown. Showing the address
in full leaks nothing worth hiding: the link is made on the account page for its owner, who
hands it on; whoever holds it was given it by the owner (or stole it, and then could press
Link anyway), and learns no more than the owner's own address.

The buttons' callback_data is `ln:<start token id>:<tag>:<y|n>`. The tag is an HMAC (the
site's secret key) of the token id and the Telegram user it was shown to, so only the
person who sent that `/start` can press Link (a forged or forwarded press is refused), and
neither the token nor the account appears in the button.

- Link links that chat to the account and uses the token up (connect_via_bot.confirm_link);
  the question becomes the "Connected!" message.
- Cancel changes nothing: the token stays as it was, so its owner can still use their link.
"""

from __future__ import annotations

import hmac
import logging
import re

from django.utils.crypto import salted_hmac

from project.bot import replies
from project.bot.updates import CallbackQuery, Message
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)

CALLBACK_DATA = re.compile(r"^ln:(\d{1,18}):([0-9a-f]{16}):([yn])$")


def _tag(start_token_id: int, telegram_id: int) -> str:
    return salted_hmac("project.bot.link_buttons", f"{start_token_id}:{telegram_id}").hexdigest()[:16]


def ask(message: Message, start_token) -> None:
    """Ask the person who sent `/start <token>` whether to link (see the module docstring)."""
    tag = _tag(start_token.pk, message.sender.id)
    buttons = [[
        {"text": "Link", "callback_data": f"ln:{start_token.pk}:{tag}:y"},
        {"text": "Cancel", "callback_data": f"ln:{start_token.pk}:{tag}:n"},
    ]]
    replies.say(
        message.chat_id,
        "link_question",
        {"account_label": start_token.user.owner_label, "name": message.sender.first_name},
        buttons=buttons,
    )


def press(query: CallbackQuery) -> tuple[bool, str]:
    from project.bot.flows import commands
    from project.telegram_accounts.flows.connect_via_bot import InvalidStartToken, confirm_link

    chat_id = query.chat_id or query.sender.id
    matched = CALLBACK_DATA.match(query.data)
    if not matched or not hmac.compare_digest(matched.group(2), _tag(int(matched.group(1)), query.sender.id)):
        replies.answer_callback(query.id, chat_id, "This button is not for you.", show_alert=True)
        return True, f"link button refused for telegram user {query.sender.id}"
    start_token_id, link = int(matched.group(1)), matched.group(3) == "y"
    if not link:
        replies.answer_callback(query.id, chat_id, "Cancelled: nothing was linked.")
        _replace(query, "link_cancelled", {})
        return True, f"link through start token {start_token_id} cancelled"
    try:
        account = confirm_link(start_token_id, query.sender.as_dict())
    except InvalidStartToken as exc:
        logger.info("link button of telegram user %s refused: %s", query.sender.id, exc.reason)
        problem = commands.token_problem(exc.reason)
        replies.answer_callback(query.id, chat_id, problem, show_alert=True)
        known = TelegramAccount.objects.for_chat(query.sender.id)
        _replace(query, "start_token_refused", {"problem": problem, "account_url": commands.account_url(),
                                                "already_connected": known is not None},
                 buttons=None if known else commands.account_button("Your account"))
        return True, f"link through start token {start_token_id} refused: {exc.reason}"
    replies.answer_callback(query.id, chat_id, "Linked.", user=account.user)
    _replace(query, "start_connected", {"account_label": account.user.email, "name": account.first_name,
                                        "settings_url": commands.settings_url()},
             user=account.user, buttons=commands.settings_button())
    return True, f"connected to user {account.user_id} after asking"


def _replace(query: CallbackQuery, template: str, context: dict, *, user=None, buttons=None) -> None:
    """The question becomes the outcome (a new text; the Link/Cancel buttons go)."""
    if query.message_id is None or query.chat_id is None:
        replies.say(query.sender.id, template, context, user=user, buttons=buttons)
        return
    payload = {"message_id": query.message_id, **replies.message(template, context, buttons=buttons)}
    replies.send(query.chat_id, "editMessageText", payload, user=user)

