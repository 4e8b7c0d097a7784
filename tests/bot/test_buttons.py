"""Accept / Decline under a match-request notification, pressed in Telegram."""

from __future__ import annotations

import pytest

from project.meetups.models import MatchRequest

from .conftest import answer_of, callback_update, deliveries, make_user
from .conftest import call as _call

pytestmark = pytest.mark.django_db

# Each press's answerCallbackQuery, from the webhook's response (contract C2), by chat.
_answered: dict[int, list[dict]] = {}


@pytest.fixture(autouse=True)
def _fresh_answers():
    _answered.clear()


def call(update: dict) -> dict:
    response = _call(update)
    answer = answer_of(response)
    if answer is not None:
        assert answer.pop("method") == "answerCallbackQuery"
        _answered.setdefault(update["callback_query"]["from"]["id"], []).append(answer)
    return response


@pytest.fixture
def request_for_ada(person):
    bea = make_user("bea@example.com", telegram_id=5151, first_name="Bea")
    return MatchRequest.objects.create(from_user=bea, to_user=person, message="Coffee?")


def answers(chat_id):
    # Every spinner is stopped in the webhook's answer; none waits for the outbox.
    assert not deliveries(chat_id, "answerCallbackQuery")
    return _answered.get(chat_id, [])


def edits(chat_id):
    return [d.payload for d in deliveries(chat_id, "editMessageText")]


def test_accept_answers_the_request_the_query_and_edits_the_message(request_for_ada):
    update = callback_update(4242, f"mr:{request_for_ada.pk}:accept", message_id=31)
    call(update)
    request_for_ada.refresh_from_db()
    assert request_for_ada.status == MatchRequest.Status.ACCEPTED
    [answer] = answers(4242)
    assert answer == {"callback_query_id": update["callback_query"]["id"], "text": "Accepted."}
    [edit] = edits(4242)
    assert edit["message_id"] == 31
    assert edit["text"] == "Bea would like to meet you.\n\nYou accepted this request."
    assert edit["entities"] == [{"type": "bold", "offset": 0, "length": 3}]
    assert "reply_markup" not in edit  # the buttons are gone


def test_decline(request_for_ada):
    call(callback_update(4242, f"mr:{request_for_ada.pk}:decline"))
    request_for_ada.refresh_from_db()
    assert request_for_ada.status == MatchRequest.Status.DECLINED
    assert edits(4242)[0]["text"].endswith("You declined this request.")


def test_pressed_twice_answers_once_and_says_so(request_for_ada):
    call(callback_update(4242, f"mr:{request_for_ada.pk}:accept"))
    call(callback_update(4242, f"mr:{request_for_ada.pk}:decline"))
    request_for_ada.refresh_from_db()
    assert request_for_ada.status == MatchRequest.Status.ACCEPTED
    first, second = answers(4242)
    assert first["text"] == "Accepted."
    assert "already accepted" in second["text"]
    assert edits(4242)[1]["text"].endswith("This request was already accepted.")


def test_pressed_by_the_wrong_person(request_for_ada):
    # Bea (the sender) forwards the notification and presses Accept on her own request.
    call(callback_update(5151, f"mr:{request_for_ada.pk}:accept"))
    request_for_ada.refresh_from_db()
    assert request_for_ada.is_pending
    [answer] = answers(5151)
    assert answer["show_alert"] is True
    assert "not yours" in answer["text"]
    assert not edits(5151)


def test_pressed_by_someone_with_no_account(request_for_ada):
    call(callback_update(6666, f"mr:{request_for_ada.pk}:accept"))
    request_for_ada.refresh_from_db()
    assert request_for_ada.is_pending
    assert "not connected" in answers(6666)[0]["text"]


def test_stale_buttons(request_for_ada):
    request_for_ada.status = MatchRequest.Status.WITHDRAWN
    request_for_ada.save()
    call(callback_update(4242, f"mr:{request_for_ada.pk}:accept"))
    assert "already withdrawn" in answers(4242)[0]["text"]
    assert edits(4242)[0]["text"].endswith("This request was already withdrawn.")

    call(callback_update(4242, "mr:999999:accept"))
    assert answers(4242)[1]["text"] == "This request no longer exists."

    call(callback_update(4242, "something-else"))
    assert answers(4242)[2]["text"] == "This button no longer works."
