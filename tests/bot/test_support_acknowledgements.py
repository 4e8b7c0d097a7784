"""A message to the bot is acknowledged, closing is announced, and the inbox shows who has waited
longest (issue 13 item 4)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from project.bot.flows import support
from project.bot.models import Conversation

from .conftest import answer_of, call, deliveries, make_user, message_update

pytestmark = pytest.mark.django_db


def acknowledgement(chat_id: int, text: str) -> str | None:
    """The text the bot answered a support message with in the webhook's response, if any."""
    answer = answer_of(call(message_update(chat_id, text)))
    if answer is None:
        return None
    assert answer["method"] == "sendMessage" and answer["chat_id"] == chat_id
    return answer["text"]


def wait(hours: float, telegram_id: int = 4242) -> None:
    """As if the person had been waiting that much longer."""
    conversation = Conversation.objects.get(telegram_id=telegram_id)
    Conversation.objects.filter(pk=conversation.pk).update(waiting_since=conversation.waiting_since - timedelta(hours=hours))


def test_the_first_message_is_acknowledged_and_once_more_after_a_while(person, settings):
    settings.SUPPORT_ACK_AGAIN_AFTER = 2 * 3600
    assert "we got your message" in acknowledgement(4242, "Hello, my meetup vanished")
    assert acknowledgement(4242, "Are you there?") is None  # not every message
    wait(1)
    assert acknowledgement(4242, "Hello?") is None  # not yet "a while"
    wait(1.5)
    assert "not forgotten you" in acknowledgement(4242, "Anyone?")
    wait(10)
    assert acknowledgement(4242, "Still waiting") is None  # once more, not again and again
    assert Conversation.objects.get().acknowledgements == 2
    assert not deliveries(4242)  # acknowledgements need no outbox row


def test_a_staff_reply_ends_the_wait_and_the_next_message_is_acknowledged_again(person, staff):
    acknowledgement(4242, "First question")
    support.reply(Conversation.objects.get(), staff, "Here is the answer")
    assert Conversation.objects.get().waiting_since is None
    assert "we got your message" in acknowledgement(4242, "A second question")


def test_a_person_without_an_account_is_acknowledged_too(db):
    assert "we got your message" in acknowledgement(31337, "hello?")


def test_closing_tells_the_person_once_and_a_new_message_reopens(client, staff, person):
    acknowledgement(4242, "Please help")
    conversation = Conversation.objects.get()
    client.force_login(staff)
    for _ in range(2):  # pressed twice: said once
        client.post(reverse("bot:update_conversation", args=[conversation.pk]), {"assignee": "", "status": "closed"})
    [closed] = deliveries(4242, "sendMessage")
    assert "closed this conversation" in closed.payload["text"] and closed.user == person
    assert "reopened" in acknowledgement(4242, "One more thing")
    assert Conversation.objects.get().status == "open"


def test_the_inbox_shows_who_has_waited_longest_first(client, staff, person):
    make_user("bea@example.com", telegram_id=5151, first_name="Bea")
    acknowledgement(4242, "from Ada")
    acknowledgement(5151, "from Bea")
    acknowledgement(6161, "from Cy")
    wait(5, 5151)  # Bea has waited longest, then Ada (1 h), then Cy
    wait(1, 4242)
    support.reply(Conversation.objects.get(telegram_id=6161), staff, "answered")  # Cy waits no more
    client.force_login(staff)
    page = client.get(reverse("bot:inbox") + "?status=waiting").content.decode()
    rows = re.findall(r'<tr id="conversation-(\d+)">', page)
    by_id = {c.pk: c.telegram_id for c in Conversation.objects.all()}
    assert [by_id[int(pk)] for pk in rows] == [5151, 4242]
    assert "Waiting longest (2)" in page
    assert re.search(r'class="waiting"[^>]*>5\xa0hours', page)
