"""
The Going / Maybe / Can't buttons under a meetup invitation, pressed in Telegram.

callback_data is `rsvp:<meetup id>:<version>:<yes|maybe|no>` (project/meetups/notifying.py).
A press answers the invitation through the meetups flow (the same `rsvp()` the site uses, so
the organizer is told), stops the spinner in the webhook's answer, and edits the message to
show the answer with the chosen button ticked; the buttons stay, so a person can change
their mind. Every other case gets an answer that says what happened:

- pressed by someone the invitation is not for (a forwarded message): an alert, and the
  message stays as it is;
- the same answer again: "You already said Going", nothing changes;
- the meetup changed since this message (its version differs): nothing is answered for a
  time or place the person never saw; the message says so and loses its RSVP buttons (the
  change notice carries fresh ones);
- cancelled, already started, or gone: said so, RSVP buttons removed.
"Open on the site" stays under the message in every case (but a meetup that is gone).
"""

from __future__ import annotations

import re

from project.bot import conf, replies
from project.bot.buttons import site_button
from project.bot.flows.edits import show_result
from project.bot.updates import CallbackQuery
from project.telegram_accounts.models import TelegramAccount

CALLBACK_DATA = re.compile(r"^rsvp:(\d{1,18}):([0-9a-f]{8}):(yes|maybe|no)$")
ANSWER_LINE = "Your answer: "
CHANGED = "This meetup changed after this message was sent: see the newer message for the new details."


def _site_row(meetup_id: int) -> list[dict]:
    # The message's "Open on the site" stays under it whatever the press did.
    return [site_button("Open on the site", conf.meetup_path(meetup_id))]


def _label(answer: str) -> str:
    from project.meetups.notifying import RSVP_CHOICES

    return dict(RSVP_CHOICES)[answer]


def press(query: CallbackQuery) -> tuple[bool, str]:
    from project.meetups import notifying
    from project.meetups.flows.meetups import MeetupClosed, NotInvited, rsvp
    from project.meetups.models import Invitation, Meetup

    chat_id = query.chat_id or query.sender.id
    matched = CALLBACK_DATA.match(query.data)
    if not matched:
        replies.answer_callback(query.id, chat_id, "This button no longer works.")
        return True, f"unknown button {query.data[:40]!r}"
    meetup_id, version, answer = int(matched.group(1)), matched.group(2), matched.group(3)

    account = TelegramAccount.objects.for_chat(query.sender.id)
    if account is None:
        replies.answer_callback(query.id, chat_id, "This Telegram account is not connected to the site.", show_alert=True)
        return True, f"rsvp button pressed by unknown telegram user {query.sender.id}"
    user = account.user
    meetup = Meetup.objects.filter(pk=meetup_id).first()
    if meetup is None:
        replies.answer_callback(query.id, chat_id, "This meetup no longer exists.", user=user)
        show_result(query, user, "This meetup no longer exists.", replaces=ANSWER_LINE)
        return True, f"meetup {meetup_id} does not exist"
    invitation = Invitation.objects.filter(meetup=meetup, invitee=user).first()
    if invitation is None:
        # Not theirs (a forwarded invitation): the message stays as it is for its owner.
        replies.answer_callback(query.id, chat_id, str(NotInvited()) + " This invitation is for someone else.",
                                user=user, show_alert=True)
        return True, f"meetup {meetup_id}: user {user.pk} is not invited"
    if not meetup.is_open:
        message = str(MeetupClosed(meetup))
        replies.answer_callback(query.id, chat_id, message, user=user, show_alert=True)
        show_result(query, user, message, replaces=ANSWER_LINE, buttons=[_site_row(meetup_id)])
        return True, f"meetup {meetup_id} is closed"
    if version != notifying.meetup_version(meetup):
        replies.answer_callback(query.id, chat_id, "This meetup changed since: nothing was answered. "
                                "See the newer message.", user=user, show_alert=True)
        show_result(query, user, CHANGED, replaces=ANSWER_LINE, buttons=[_site_row(meetup_id)])
        return True, f"meetup {meetup_id} changed since the message (version {version})"
    if invitation.rsvp == answer:
        replies.answer_callback(query.id, chat_id, f"You already said: {_label(answer)}.", user=user)
        return True, f"meetup {meetup_id}: rsvp {answer} again"
    try:
        rsvp(meetup_id, user, answer)
    except MeetupClosed as exc:  # closed between the check and the locked row
        replies.answer_callback(query.id, chat_id, str(exc), user=user, show_alert=True)
        show_result(query, user, str(exc), replaces=ANSWER_LINE, buttons=[_site_row(meetup_id)])
        return True, f"meetup {meetup_id} is closed"
    replies.answer_callback(query.id, chat_id, f"{_label(answer)}: noted.", user=user)
    show_result(query, user, f"{ANSWER_LINE}{_label(answer)}", replaces=ANSWER_LINE,
                buttons=[*notifying.rsvp_buttons(meetup, answer), _site_row(meetup_id)])
    return True, f"meetup {meetup_id}: rsvp {answer}"
