"""Support messages from people, the staff inbox, replies, and the optional staff group."""

from __future__ import annotations

import pytest
from django.urls import reverse

from project.bot.models import Conversation, SupportMessage

from .conftest import call, deliveries, make_user, message_update

pytestmark = pytest.mark.django_db


def test_messages_of_every_kind_join_the_persons_conversation(person):
    call(message_update(4242, "Hi, I cannot sign in"))
    call(message_update(4242, None, photo=[{"file_id": "AgAC1", "file_unique_id": "u1", "width": 90, "height": 60}],
                        caption="the error page"))
    call(message_update(4242, None, document={"file_id": "BQAC", "file_unique_id": "u2", "file_name": "log.txt"},
                        caption="my log"))
    call(message_update(4242, None, voice={"file_id": "AwAC", "file_unique_id": "u3", "duration": 3}))
    call(message_update(4242, None, location={"latitude": 1.0, "longitude": 2.0}))
    conversation = Conversation.objects.get()
    assert conversation.telegram_id == 4242
    assert conversation.user == person
    kinds = list(conversation.messages.values_list("kind", "text", "caption", "file_name"))
    assert kinds == [
        ("text", "Hi, I cannot sign in", "", ""),
        ("photo", "", "the error page", ""),
        ("document", "", "my log", "log.txt"),
        ("voice", "", "", ""),
        ("location", "", "", ""),
    ]
    assert [m.summary for m in conversation.messages.all()][1:3] == ["[Photo] the error page", "[Document log.txt] my log"]
    assert not deliveries()  # the acknowledgement rides in the webhook's answer, not the outbox


def test_a_person_without_an_account_gets_a_conversation_too(db):
    call(message_update(31337, "hello?", first_name="Anon"))
    conversation = Conversation.objects.get()
    assert conversation.user is None
    assert conversation.display_name == "Anon"


def test_a_closed_conversation_reopens_on_a_new_message(person):
    call(message_update(4242, "one"))
    Conversation.objects.update(status="closed")
    call(message_update(4242, "two"))
    assert Conversation.objects.get().status == "open"


def test_messages_in_other_groups_are_ignored(person):
    update = message_update(4242, "hi all", chat={"id": -100777, "type": "supergroup", "title": "x"})
    call(update)
    assert not Conversation.objects.exists()


# --- the inbox --------------------------------------------------------------------------------


def test_the_inbox_is_for_staff_only(client, person):
    url = reverse("bot:inbox")
    assert url == "/staff/inbox/"
    assert client.get(url).status_code == 302  # to sign in
    client.force_login(person)
    assert client.get(url).status_code == 403


def test_inbox_lists_conversations_newest_first_with_unread_counts(client, staff, person):
    make_user("bob@example.com", telegram_id=5151, first_name="Bob")
    call(message_update(4242, "first from ada"))
    call(message_update(5151, "from bob", first_name="Bob"))
    call(message_update(4242, "second from ada"))
    client.force_login(staff)
    page = client.get(reverse("bot:inbox")).content.decode()
    assert page.index("Ada") < page.index("Bob")  # Ada wrote last
    assert "2 new" in page and "1 new" in page
    assert "ada@example.com" in page  # the linked account

    ada = Conversation.objects.get(telegram_id=4242)
    thread = client.get(reverse("bot:conversation", args=[ada.pk])).content.decode()
    assert "first from ada" in thread and "second from ada" in thread
    page = client.get(reverse("bot:inbox")).content.decode()
    assert "2 new" not in page and "1 new" in page  # reading the thread cleared Ada's


def test_closed_filter_and_assignment(client, staff, person):
    call(message_update(4242, "help"))
    conversation = Conversation.objects.get()
    client.force_login(staff)
    response = client.post(reverse("bot:update_conversation", args=[conversation.pk]), {"action": "assign_me"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.assignee == staff
    client.post(
        reverse("bot:update_conversation", args=[conversation.pk]), {"assignee": staff.pk, "status": "closed"}
    )
    conversation.refresh_from_db()
    assert conversation.status == "closed"
    assert "No open conversations" in client.get(reverse("bot:inbox")).content.decode()
    closed = client.get(reverse("bot:inbox") + "?status=closed").content.decode()
    assert "Ada" in closed and "Sam" in closed  # the assignee's name


def test_a_staff_reply_goes_to_the_outbox_and_shows_in_the_thread(client, staff, person):
    from project.notifications.models import Delivery

    call(message_update(4242, "where is my meetup?"))
    conversation = Conversation.objects.get()
    client.force_login(staff)
    response = client.post(reverse("bot:reply", args=[conversation.pk]), {"text": "It is <tomorrow> & at 5"})
    assert response.status_code == 302
    reply = SupportMessage.objects.get(direction="out")
    assert reply.author == staff
    delivery = reply.delivery
    assert delivery.method == "sendMessage" and delivery.chat_id == 4242
    assert delivery.payload == {"text": "It is <tomorrow> & at 5"}  # plain text, sent as typed
    assert delivery.user == person
    thread = client.get(reverse("bot:conversation", args=[conversation.pk])).content.decode()
    assert "It is &lt;tomorrow&gt; &amp; at 5" in thread
    assert "queued" in thread
    Delivery.objects.filter(pk=delivery.pk).update(status="sent")
    assert "delivered" in client.get(reverse("bot:conversation", args=[conversation.pk])).content.decode()


def test_an_empty_reply_is_refused(client, staff, person):
    call(message_update(4242, "hi"))
    conversation = Conversation.objects.get()
    client.force_login(staff)
    response = client.post(reverse("bot:reply", args=[conversation.pk]), {"text": "   "})
    assert response.status_code == 400
    assert not deliveries()


# --- the staff group (optional) -----------------------------------------------------------------

GROUP = -100500


def test_messages_are_forwarded_to_the_staff_group_and_a_reply_there_answers(settings, person):
    settings.TELEGRAM_STAFF_GROUP_ID = GROUP
    sam = make_user("sam@example.com", telegram_id=8080, is_staff=True, first_name="Sam")
    call(message_update(4242, "is anyone there? <b>"))
    conversation = Conversation.objects.get()
    [forward] = deliveries(GROUP, "sendMessage")
    assert forward.payload["text"].startswith(f"#c{conversation.pk} · <b>Ada</b>")
    assert "is anyone there? &lt;b&gt;" in forward.payload["text"]

    # Sam replies to the bot's message in the group; Telegram quotes it as plain text.
    bot = {"id": settings.TELEGRAM_BOT_ID, "is_bot": True, "first_name": "Bot"}
    quoted = {"message_id": 3, "from": bot, "chat": {"id": GROUP, "type": "supergroup"}, "date": 1,
              "text": f"#c{conversation.pk} · Ada\nis anyone there? <b>\n\nReply to this message to answer."}
    reply_update = message_update(8080, "Yes, Sam here.", chat={"id": GROUP, "type": "supergroup", "title": "Staff"},
                                  reply_to_message=quoted)
    call(reply_update)
    [to_person] = deliveries(4242, "sendMessage")
    assert to_person.payload == {"text": "Yes, Sam here."}
    reply = SupportMessage.objects.get(direction="out")
    assert reply.author == sam and reply.delivery == to_person

    # Someone in the group who is not staff is not passed on.
    make_user("nosy@example.com", telegram_id=8181)
    call(message_update(8181, "me too", chat={"id": GROUP, "type": "supergroup"}, reply_to_message=quoted))
    assert len(deliveries(4242, "sendMessage")) == 1


def test_a_reply_too_long_for_telegram_is_a_form_error_not_a_500(client, staff, person):
    call(message_update(4242, "hello"))
    conversation = Conversation.objects.get()
    client.force_login(staff)
    response = client.post(reverse("bot:reply", args=[conversation.pk]), {"text": "🎉" * 2049})  # 4098 in UTF-16
    assert response.status_code == 400
    assert "at most 4096 characters" in response.content.decode()
    assert not deliveries(4242)
    assert client.post(reverse("bot:reply", args=[conversation.pk]), {"text": "🎉" * 2048}).status_code == 302


def test_a_live_token_pasted_into_a_message_is_not_shown_to_staff(client, staff, person):
    """A person pastes their own connect link (or a sign-in link) into a message to the bot:
    the conversation page and the staff group must not carry a token that still works."""
    from project.telegram_accounts.flows.connect_via_bot import issue_start_token

    token = issue_start_token(person)
    call(message_update(4242, f"I tried https://t.me/site_local_bot?start={token} and it says nothing\n"
                              f"then /start {token}"))
    stored = SupportMessage.objects.get(conversation__telegram_id=4242)
    assert token not in stored.text and "it says nothing" in stored.text
    client.force_login(staff)
    thread = client.get(reverse("bot:conversation", args=[stored.conversation_id])).content.decode()
    assert token not in thread and "it says nothing" in thread
