"""
Notifications in Telegram read like a good bot's (issue 13 item 9): a bold title, the text, the
link behind words, in HTML parse mode with every user-supplied value escaped. Every kind is
made through the site's own flows with hostile names (<, &, quotes, emoji, right-to-left
text) and sent through the outbox, moto's SQS and the sender to the sandbox, which refuses
anything Telegram would refuse ("can't parse entities").
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from project.notifications import kinds

from .conftest import make_user

pytestmark = pytest.mark.django_db

# Markup-looking text, a real entity, quotes of both kinds, an emoji, Hebrew and a
# right-to-left override: each must arrive exactly as typed.
HOSTILE = "Zoë <b>&amp; \"Bob\" O'Neil </a> 🎉 שלום \u202eevil"


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def drain(aws) -> None:
    from infra.local.sqs_poller import poll_once, queue_arn
    from handlers.sender import handler

    sqs = aws.client("sqs")
    arn = queue_arn(sqs, aws.queue_url)
    for _ in range(30):
        received, _ = poll_once(sqs, aws.queue_url, arn, handler, wait=0)
        if not received:
            return


@pytest.fixture
def people(sandbox, aws):
    from project.meetups.models import Profile
    from project.notifications.sending import reset_sender

    reset_sender()
    sandbox.set_limits(None)  # this test is about the text, not the pace
    ann = make_user("ann@example.com", telegram_id=7301)
    ben = make_user("ben@example.com", telegram_id=7302)
    for user, telegram_id in ((ann, 7301), (ben, 7302)):
        Profile.objects.create(user=user, display_name=f"{HOSTILE} {user.email[0]}", discoverable=True)
        sandbox.add_user(telegram_id, first_name=HOSTILE)
    yield ann, ben
    reset_sender()


def every_kind(ann, ben) -> None:
    """One notification of each kind, each through the flow that makes it on the site."""
    from project.meetups.flows import match_requests, meetups
    from project.notifications import notify

    request = match_requests.send_match_request(ann, ben, HOSTILE)  # match_request_received
    match_requests.answer_match_request(request.pk, ben, accept=True)  # match_request_answered
    meetup = meetups.schedule_meetup(ann, title=HOSTILE, starts_at=timezone.now() + timedelta(days=3),
                                     place=HOSTILE, notes=HOSTILE, invitees=[ben])  # meetup_scheduled
    meetups.rsvp(meetup.pk, ben, "yes")  # meetup_rsvp
    meetups.change_meetup(meetup.pk, ann, place=f"{HOSTILE} (upstairs)")  # meetup_changed
    meetups.cancel_meetup(meetup.pk, ann)  # meetup_cancelled
    notify(ben, kinds.SUPPORT_REPLY, text=HOSTILE, subject=HOSTILE)
    notify(ben, kinds.SECURITY, text=HOSTILE, subject=HOSTILE, link="/accounts/")


def test_every_kind_with_hostile_names_reaches_the_sandbox_as_written(people, sandbox, aws, settings,
                                                                      django_capture_on_commit_callbacks):
    from project.notifications.models import Delivery

    ann, ben = people
    with django_capture_on_commit_callbacks(execute=True):
        every_kind(ann, ben)
    drain(aws)

    telegram = Delivery.objects.filter(channel="telegram", notification__isnull=False).select_related("notification")
    assert {d.notification.kind for d in telegram} == set(kinds.KINDS)  # every kind is covered
    assert [(d.notification.kind, d.status, d.last_error) for d in telegram if d.status != "sent"] == []
    assert sandbox.errors() == []  # Telegram would have taken every one of them

    for delivery in telegram:
        notification = delivery.notification
        assert delivery.payload["parse_mode"] == "HTML"
        message = sandbox.message(delivery.chat_id, int(delivery.provider_message_id))
        text, entities = message["text"], message["entities"]
        title = " ".join(notification.title.split())
        # A bold title first, then the text as written.
        assert text.startswith(title + "\n\n")
        assert entities[0] == {"type": "bold", "offset": 0, "length": utf16(title)}
        assert notification.text.strip() in text
        assert HOSTILE in text  # every kind names someone or something hostile
        assert HOSTILE in title  # ...in its title too, as typed: escaped once, never twice
        assert "&lt;" not in text and "&amp;amp;" not in text
        # The link is behind words, never a raw URL.
        if notification.link:
            [link] = [e for e in entities if e["type"] == "text_link"]
            assert link["url"] == notification.absolute_link()
            assert "http" not in text
    # The sandbox's chat page shows the hostile markup as text, the title in bold.
    page = httpx.get(f"{sandbox.url}/chat/7302").text
    assert "&lt;b&gt;&amp;amp; &#34;Bob&#34; O&#39;Neil &lt;/a&gt;" in page
    assert "<b>&amp;amp;" not in page
    assert "<b>Meetup cancelled" in page or "<b>Cancelled: " in page


def test_a_notification_at_telegrams_limit_is_cut_to_fit(people, sandbox, aws, django_capture_on_commit_callbacks):
    from project.notifications import notify
    from project.notifications.models import Delivery

    _, ben = people
    long_text = ("<&> 🎉 " * 2000)
    with django_capture_on_commit_callbacks(execute=True):
        notify(ben, kinds.SUPPORT_REPLY, text=long_text, subject="Long", link="/")
    drain(aws)
    delivery = Delivery.objects.get(channel="telegram")
    assert delivery.status == "sent", delivery.last_error
    text = sandbox.message(7302, int(delivery.provider_message_id))["text"]
    assert utf16(text) <= 4096 and "…" in text
