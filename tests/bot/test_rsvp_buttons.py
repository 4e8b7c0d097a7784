"""Going / Maybe / Can't under a meetup invitation, pressed in Telegram (issue 13 item 10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from project.meetups.flows import meetups as flows
from project.meetups.models import Invitation, MatchRequest, Profile
from project.notifications.models import Notification

from .conftest import answer_of, callback_update, deliveries, make_user
from .conftest import call as _call

pytestmark = pytest.mark.django_db


def call(update: dict) -> dict:
    """Press; returns the answerCallbackQuery the webhook answered with (contract C2)."""
    answer = answer_of(_call(update))
    assert answer["method"] == "answerCallbackQuery"
    assert not deliveries(method="answerCallbackQuery")
    return answer


@pytest.fixture
def meetup(db):
    """Olga invites Ivan (Telegram 4242) to a meetup next week."""
    olga = make_user("olga@example.com", first_name="Olga")
    ivan = make_user("ivan@example.com", telegram_id=4242, first_name="Ivan")
    for user, name in ((olga, "Olga"), (ivan, "Ivan")):
        Profile.objects.create(user=user, display_name=name, discoverable=True)
    MatchRequest.objects.create(from_user=olga, to_user=ivan, status=MatchRequest.Status.ACCEPTED)
    return flows.schedule_meetup(olga, title="Board games", starts_at=timezone.now() + timedelta(days=7),
                                 place="Cafe Central", invitees=[ivan])


def invitation_message(chat_id: int = 4242) -> tuple[dict, dict[str, str]]:
    [delivery] = [d for d in deliveries(chat_id, "sendMessage") if d.notification and d.notification.kind == "meetup_scheduled"]
    rows = delivery.payload["reply_markup"]["inline_keyboard"]
    return delivery.payload, {b["text"]: b["callback_data"] for b in rows[0]}


def rsvp_of(meetup) -> str:
    return Invitation.objects.get(meetup=meetup).rsvp


def test_an_invitation_carries_the_three_buttons_and_a_link_to_the_meetup(meetup):
    payload, buttons = invitation_message()
    assert list(buttons) == ["Going", "Maybe", "Can't"]
    assert all(data.startswith(f"rsvp:{meetup.pk}:") and len(data.encode()) <= 64 for data in buttons.values())
    assert payload["reply_markup"]["inline_keyboard"][1][0]["text"] == "Open on the site"


def test_going_answers_the_invitation_tells_the_organizer_and_updates_the_message(meetup):
    _, buttons = invitation_message()
    answer = call(callback_update(4242, buttons["Going"], message_id=12, text="Board games\n\nOlga invited you"))
    assert answer["text"] == "Going: noted."
    assert rsvp_of(meetup) == Invitation.Rsvp.YES
    assert Notification.objects.filter(user=meetup.organizer, kind="meetup_rsvp").count() == 1
    [edit] = deliveries(4242, "editMessageText")
    assert edit.payload["message_id"] == 12
    assert edit.payload["text"] == "Board games\n\nOlga invited you\n\nYour answer: Going"
    assert edit.payload["entities"] == [{"type": "bold", "offset": 0, "length": 3}]  # formatting kept
    rows = edit.payload["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in rows[0]] == ["✓ Going", "Maybe", "Can't"]  # people change their minds
    assert rows[1][0]["text"] == "Open on the site"


def test_pressed_twice_says_so_and_changes_nothing(meetup):
    _, buttons = invitation_message()
    call(callback_update(4242, buttons["Going"]))
    answer = call(callback_update(4242, buttons["Going"], text="Olga invited you\n\nYour answer: Going"))
    assert answer["text"] == "You already said: Going."
    assert len(deliveries(4242, "editMessageText")) == 1
    assert Notification.objects.filter(user=meetup.organizer, kind="meetup_rsvp").count() == 1


def test_a_changed_mind_replaces_the_answer_line(meetup):
    _, buttons = invitation_message()
    call(callback_update(4242, buttons["Going"]))
    call(callback_update(4242, buttons["Can't"], text="Olga invited you\n\nYour answer: Going"))
    assert rsvp_of(meetup) == Invitation.Rsvp.NO
    assert deliveries(4242, "editMessageText")[-1].payload["text"] == "Olga invited you\n\nYour answer: Can't"


def test_pressed_by_someone_not_invited(meetup):
    make_user("eve@example.com", telegram_id=5151)
    _, buttons = invitation_message()
    answer = call(callback_update(5151, buttons["Going"]))
    assert answer["show_alert"] is True and "not invited" in answer["text"]
    assert rsvp_of(meetup) == Invitation.Rsvp.PENDING
    assert not deliveries(5151, "editMessageText")


def test_pressed_after_the_meetup_changed(meetup):
    _, old_buttons = invitation_message()
    flows.change_meetup(meetup.pk, meetup.organizer, place="Library")
    answer = call(callback_update(4242, old_buttons["Going"]))
    assert answer["show_alert"] is True and "changed" in answer["text"]
    assert rsvp_of(meetup) == Invitation.Rsvp.PENDING  # nothing answered for a place never seen
    [edit] = deliveries(4242, "editMessageText")
    assert "changed after this message" in edit.payload["text"]
    assert [[b["text"] for b in row] for row in edit.payload["reply_markup"]["inline_keyboard"]] == [["Open on the site"]]

    # The change notice has buttons for the new version, and they work.
    [changed] = [d for d in deliveries(4242, "sendMessage") if d.notification.kind == "meetup_changed"]
    fresh = {b["text"]: b["callback_data"] for b in changed.payload["reply_markup"]["inline_keyboard"][0]}
    assert fresh["Going"] != old_buttons["Going"]
    assert call(callback_update(4242, fresh["Going"]))["text"] == "Going: noted."
    assert rsvp_of(meetup) == Invitation.Rsvp.YES


def test_pressed_after_the_meetup_was_cancelled_or_deleted(meetup):
    _, buttons = invitation_message()
    flows.cancel_meetup(meetup.pk, meetup.organizer)
    answer = call(callback_update(4242, buttons["Maybe"]))
    assert answer["text"] == "This meetup was cancelled."
    assert deliveries(4242, "editMessageText")[-1].payload["text"].endswith("This meetup was cancelled.")
    meetup.delete()
    assert call(callback_update(4242, buttons["Maybe"]))["text"] == "This meetup no longer exists."


def test_a_forged_rsvp_button_is_refused(meetup):
    assert call(callback_update(4242, f"rsvp:{meetup.pk}:zzzzzzzz:yes"))["text"] == "This button no longer works."
    assert rsvp_of(meetup) == Invitation.Rsvp.PENDING
