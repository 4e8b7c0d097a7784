"""The match-request flows: who may ask whom, answering, withdrawing, and who hears of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from project.meetups.flows import match_requests as flows
from project.meetups.models import MatchRequest, are_matched, matched_users
from project.notifications.models import Delivery, Notification
from tests.meetups.conftest import notifications_for

pytestmark = pytest.mark.django_db


def test_sending_a_request_notifies_the_recipient_with_accept_and_decline_buttons(make_person, settings):
    settings.SITE_URL = "https://meetups.example.org"
    ann, bob = make_person("Ann"), make_person("Bob")

    request = flows.send_match_request(ann, bob, "  Coffee next week?  ")

    assert request.status == MatchRequest.Status.PENDING
    assert request.message == "Coffee next week?"
    [notification] = notifications_for(bob)
    assert notification.kind == "match_request_received"
    assert notification.subject == "Ann sent you a match request"
    assert "Ann would like to match with you." in notification.text
    assert '"Coffee next week?"' in notification.text
    assert notification.link == f"https://meetups.example.org/requests/#request-{request.pk}"
    # The text carries no raw link: Telegram puts it behind words, emails and the site add it.
    assert "https://" not in notification.text
    assert notification.buttons == [
        [
            {"text": "Accept", "callback_data": f"mr:{request.pk}:accept"},
            {"text": "Decline", "callback_data": f"mr:{request.pk}:decline"},
        ]
    ]
    assert notifications_for(ann) == []
    # The notification reached the outbox: at least one delivery row, the buttons in Telegram's payload if any.
    assert Delivery.objects.filter(notification=notification).exists()


def test_the_message_is_plain_text_not_html_escaped(make_person):
    ann, bob = make_person("Ann & Co"), make_person("Bob")
    flows.send_match_request(ann, bob, "Tea <or> coffee & cake?")
    [notification] = notifications_for(bob)
    assert "Tea <or> coffee & cake?" in notification.text
    assert "Ann & Co" in notification.text and "&amp;" not in notification.text


def test_without_a_message_there_is_no_empty_quote(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    flows.send_match_request(ann, bob, "")
    [notification] = notifications_for(bob)
    assert '""' not in notification.text
    assert "\n\n\n" not in notification.text


def test_nobody_can_request_themselves(make_person):
    ann = make_person("Ann")
    with pytest.raises(flows.CannotRequestYourself):
        flows.send_match_request(ann, ann, "me?")
    assert not MatchRequest.objects.exists()


def test_only_discoverable_people_can_be_asked(make_person):
    ann, hidden = make_person("Ann"), make_person("Hidden", discoverable=False)
    with pytest.raises(flows.NotDiscoverable):
        flows.send_match_request(ann, hidden, "hello")
    assert not MatchRequest.objects.exists()
    assert notifications_for(hidden) == []


def test_a_person_without_a_profile_is_not_discoverable(make_person, django_user_model):
    ann = make_person("Ann")
    nobody = django_user_model.objects.create(username="noprofile", email="np@example.org")
    with pytest.raises(flows.NotDiscoverable):
        flows.send_match_request(ann, nobody)


def test_one_pending_request_per_pair_in_either_direction(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    first = flows.send_match_request(ann, bob, "hi")
    with pytest.raises(flows.AlreadyPending, match="already sent this person a request") as again:
        flows.send_match_request(ann, bob, "hi again")
    assert again.value.match_request == first
    with pytest.raises(flows.AlreadyPending, match="already sent you a request"):
        flows.send_match_request(bob, ann, "and you?")
    assert MatchRequest.objects.count() == 1
    assert len(notifications_for(bob)) == 1 and notifications_for(ann) == []


def test_the_database_itself_refuses_a_second_pending_request_for_a_pair(make_person):
    """What holds when two requests race past the flow's check: the partial unique index."""
    from django.db import IntegrityError

    ann, bob = make_person("Ann"), make_person("Bob")
    MatchRequest.objects.create(from_user=ann, to_user=bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        MatchRequest.objects.create(from_user=bob, to_user=ann)
    # Answered requests do not count: a new pending one is fine afterwards.
    MatchRequest.objects.update(status=MatchRequest.Status.WITHDRAWN)
    MatchRequest.objects.create(from_user=bob, to_user=ann)


def test_the_database_refuses_a_request_to_oneself(make_person):
    from django.db import IntegrityError

    ann = make_person("Ann")
    with pytest.raises(IntegrityError), transaction.atomic():
        MatchRequest.objects.create(from_user=ann, to_user=ann)


def test_a_long_message_is_refused(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    with pytest.raises(ValueError, match="500"):
        flows.send_match_request(ann, bob, "x" * 501)
    flows.send_match_request(ann, bob, "x" * 500)


def test_accepting_matches_the_two_and_notifies_the_sender(make_person, settings):
    settings.SITE_URL = "https://meetups.example.org"
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob, "hi")

    answered = flows.answer_match_request(request.pk, bob, accept=True)

    assert answered.status == MatchRequest.Status.ACCEPTED
    assert answered.answered_at is not None
    assert are_matched(ann, bob) and are_matched(bob, ann)
    assert list(matched_users(ann)) == [bob] and list(matched_users(bob)) == [ann]
    [notification] = notifications_for(ann)
    assert notification.kind == "match_request_answered"
    assert notification.subject == "Bob accepted your match request"
    assert "Bob accepted your match request" in notification.text
    assert notification.link == "https://meetups.example.org/meetups/new/"
    assert notification.buttons == []
    # The recipient was told only of the request itself.
    assert [n.kind for n in notifications_for(bob)] == ["match_request_received"]


def test_declining_notifies_the_sender_and_does_not_match(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob, "hi")

    flows.answer_match_request(request.pk, bob, accept=False)

    request.refresh_from_db()
    assert request.status == MatchRequest.Status.DECLINED
    assert not are_matched(ann, bob)
    [notification] = notifications_for(ann)
    assert notification.kind == "match_request_answered"
    assert "Bob declined your match request." in notification.text


def test_only_the_recipient_can_answer(make_person):
    ann, bob, eve = make_person("Ann"), make_person("Bob"), make_person("Eve")
    request = flows.send_match_request(ann, bob, "hi")
    for intruder in (ann, eve):
        with pytest.raises(flows.NotYourRequest):
            flows.answer_match_request(request.pk, intruder, accept=True)
    request.refresh_from_db()
    assert request.is_pending
    assert notifications_for(ann) == []


def test_answering_twice_says_what_happened_first(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob, "hi")
    flows.answer_match_request(request.pk, bob, accept=False)
    with pytest.raises(flows.AlreadyAnswered) as again:
        flows.answer_match_request(request.pk, bob, accept=True)
    assert again.value.status == "declined"
    assert str(again.value) == "This request was already declined."
    request.refresh_from_db()
    assert request.status == MatchRequest.Status.DECLINED
    assert len(notifications_for(ann)) == 1


def test_an_unknown_request_is_does_not_exist(make_person):
    bob = make_person("Bob")
    with pytest.raises(MatchRequest.DoesNotExist):
        flows.answer_match_request(987654, bob, accept=True)


def test_the_sender_can_withdraw_while_pending_and_nobody_is_notified(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob, "hi")
    with pytest.raises(flows.NotYourRequest):
        flows.withdraw_match_request(request.pk, bob)

    flows.withdraw_match_request(request.pk, ann)

    request.refresh_from_db()
    assert request.status == MatchRequest.Status.WITHDRAWN
    assert notifications_for(ann) == []
    assert len(notifications_for(bob)) == 1  # only the original request
    # The recipient's buttons now answer "already withdrawn".
    with pytest.raises(flows.AlreadyAnswered) as late:
        flows.answer_match_request(request.pk, bob, accept=True)
    assert late.value.status == "withdrawn"
    with pytest.raises(flows.AlreadyAnswered):
        flows.withdraw_match_request(request.pk, ann)
    # And a new request between them is possible again.
    flows.send_match_request(bob, ann, "my turn")


def test_matched_people_cannot_ask_again(make_person, match):
    ann, bob = make_person("Ann"), make_person("Bob")
    match(ann, bob)
    with pytest.raises(flows.AlreadyMatched):
        flows.send_match_request(ann, bob)
    with pytest.raises(flows.AlreadyMatched):
        flows.send_match_request(bob, ann)


def test_after_a_decline_the_sender_waits_before_asking_again(make_person, settings):
    settings.MEETUPS_DECLINE_COOLDOWN_DAYS = 30
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob)
    flows.answer_match_request(request.pk, bob, accept=False)
    with pytest.raises(flows.RecentlyDeclined) as refused:
        flows.send_match_request(ann, bob, "please?")
    request.refresh_from_db()
    until = request.answered_at + timedelta(days=30)
    assert refused.value.until == until
    assert str(refused.value) == (
        f"This person declined your last request. You can ask again from {flows.format_moment(until)}."
    )
    assert flows.may_ask_again_from(ann) == {bob.pk: until}
    assert flows.may_ask_again_from(bob) == {}
    # The one who declined may still ask the other.
    flows.send_match_request(bob, ann, "changed my mind").delete()
    MatchRequest.objects.filter(pk=request.pk).update(answered_at=timezone.now() - timedelta(days=31))
    flows.send_match_request(ann, bob, "a month later")


def test_a_rolled_back_request_leaves_no_request_and_no_notification(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        flows.send_match_request(ann, bob, "hi")
        assert Notification.objects.filter(user=bob).count() == 1  # written in the same transaction
        raise Abort

    assert not MatchRequest.objects.exists()
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()


def test_a_rolled_back_answer_leaves_the_request_pending_and_notifies_nobody(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob, "hi")

    with pytest.raises(RuntimeError), transaction.atomic():
        flows.answer_match_request(request.pk, bob, accept=True)
        raise RuntimeError("the caller failed after answering")

    request.refresh_from_db()
    assert request.is_pending
    assert notifications_for(ann) == []
    flows.answer_match_request(request.pk, bob, accept=True)
    assert len(notifications_for(ann)) == 1


def test_a_recipient_on_telegram_gets_the_buttons_under_the_message(make_person):
    from project.telegram_accounts.models import TelegramAccount

    ann, bob = make_person("Ann"), make_person("Bob")
    TelegramAccount.objects.create(user=bob, telegram_id=555001, first_name="Bob")

    request = flows.send_match_request(ann, bob, "hi")

    delivery = Delivery.objects.get(notification__user=bob, channel=Delivery.Channel.TELEGRAM)
    assert delivery.chat_id == 555001
    keyboard = delivery.payload["reply_markup"]["inline_keyboard"]
    assert keyboard[0] == [
        {"text": "Accept", "callback_data": f"mr:{request.pk}:accept"},
        {"text": "Decline", "callback_data": f"mr:{request.pk}:decline"},
    ]
    assert "Ann would like to match with you." in delivery.payload["text"]


def test_the_wait_counts_from_the_latest_decline_and_names_a_date(make_person, settings):
    settings.MEETUPS_DECLINE_COOLDOWN_DAYS = 10
    settings.TIME_ZONE = "Europe/Berlin"
    ann, bob, cy = make_person("Ann"), make_person("Bob"), make_person("Cy")
    first = flows.send_match_request(ann, bob)
    flows.answer_match_request(first.pk, bob, accept=False)
    older = timezone.now() - timedelta(days=8)
    MatchRequest.objects.filter(pk=first.pk).update(answered_at=older)
    assert flows.may_ask_again_from(ann) == {bob.pk: older + timedelta(days=10)}
    second = flows.send_match_request(ann, cy)
    flows.answer_match_request(second.pk, cy, accept=False)
    second.refresh_from_db()
    assert flows.may_ask_again_from(ann) == {
        bob.pk: older + timedelta(days=10), cy.pk: second.answered_at + timedelta(days=10)
    }
    assert flows.may_ask_again_from(ann, to_user=cy) == {cy.pk: second.answered_at + timedelta(days=10)}
    moment = timezone.make_aware(timezone.datetime(2026, 12, 31, 13, 5), timezone.get_fixed_timezone(0))
    assert flows.format_moment(moment) == "31 December 2026, 14:05"  # in the site's time zone
