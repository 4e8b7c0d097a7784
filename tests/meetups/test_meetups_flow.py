"""The meetup flows: scheduling, inviting matched people, changing, cancelling, RSVPs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from project.meetups.flows import meetups as flows
from project.meetups.models import Invitation, Meetup
from project.notifications.models import Notification
from tests.meetups.conftest import mark
from tests.meetups.conftest import notifications_for as all_notifications_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_person, match):
    """Olga organizes; Ivan and Mia are matched with her; Sam is not."""
    olga, ivan, mia, sam = make_person("Olga"), make_person("Ivan"), make_person("Mia"), make_person("Sam")
    match(ivan, olga)  # matched whichever way the request went
    match(olga, mia)
    forget_earlier_notifications()  # each test looks only at the meetup events
    return olga, ivan, mia, sam


# Tests look only at notifications made after their setup (the match requests before them).
_SINCE = {"after": 0}


def forget_earlier_notifications():
    _SINCE["after"] = mark()


def notifications_for(user, kind=None):
    return all_notifications_for(user, kind, after=_SINCE["after"])


def nobody_notified() -> bool:
    return not Notification.objects.filter(pk__gt=_SINCE["after"]).exists()


def schedule(organizer, when, invitees=(), **extra):
    fields = {"title": "Board games", "starts_at": when, "place": "Cafe Central", "notes": "", **extra}
    return flows.schedule_meetup(organizer, invitees=invitees, **fields)


def test_scheduling_invites_matched_people_and_notifies_each(people, in_a_week, settings):
    settings.SITE_URL = "https://meetups.example.org"
    olga, ivan, mia, sam = people

    meetup = schedule(olga, in_a_week, [ivan, mia], notes="Bring a game")

    assert meetup.status == Meetup.Status.SCHEDULED
    assert sorted(i.invitee.pk for i in meetup.invitations.all()) == sorted([ivan.pk, mia.pk])
    assert all(i.rsvp == Invitation.Rsvp.PENDING for i in meetup.invitations.all())
    for invitee in (ivan, mia):
        [notification] = notifications_for(invitee)
        assert notification.kind == "meetup_scheduled"
        assert notification.subject == "Olga invited you to Board games"
        assert "Olga invited you to a meetup: Board games" in notification.text
        assert "Where: Cafe Central" in notification.text
        assert in_a_week.strftime("%H:%M") in notification.text and "UTC" in notification.text
        assert "Bring a game" in notification.text
        assert notification.link == f"https://meetups.example.org/meetups/{meetup.pk}/"
    assert notifications_for(olga) == [] and notifications_for(sam) == []


def test_a_meetup_without_invitees_notifies_nobody(people, in_a_week):
    olga, *_ = people
    schedule(olga, in_a_week)
    assert nobody_notified()


def test_a_meetup_in_the_past_is_refused(people):
    olga, ivan, *_ = people
    with pytest.raises(flows.StartsInThePast):
        schedule(olga, timezone.now() - timedelta(minutes=1), [ivan])
    assert not Meetup.objects.exists() and nobody_notified()


def test_only_matched_people_can_be_invited_and_nothing_is_created_otherwise(people, in_a_week):
    olga, ivan, mia, sam = people
    with pytest.raises(flows.NotMatched, match="Sam") as refused:
        schedule(olga, in_a_week, [ivan, sam])
    assert refused.value.users == [sam]
    # All or nothing: the meetup and Ivan's invitation were rolled back with the refusal.
    assert not Meetup.objects.exists() and nobody_notified()


def test_a_pending_or_declined_request_is_not_a_match(people, make_person, in_a_week):
    from project.meetups.flows.match_requests import answer_match_request, send_match_request

    olga, *_ = people
    pending, declined = make_person("Pending"), make_person("Declined")
    send_match_request(olga, pending)
    answer_match_request(send_match_request(olga, declined).pk, declined, accept=False)
    with pytest.raises(flows.NotMatched):
        schedule(olga, in_a_week, [pending])
    with pytest.raises(flows.NotMatched):
        schedule(olga, in_a_week, [declined])


def test_inviting_more_people_later_skips_those_already_invited(people, in_a_week):
    olga, ivan, mia, sam = people
    meetup = schedule(olga, in_a_week, [ivan])

    created = flows.invite(meetup.pk, olga, [ivan, mia])

    assert [i.invitee for i in created] == [mia]
    assert meetup.invitations.count() == 2
    assert len(notifications_for(ivan)) == 1  # not invited (or told) twice
    assert [n.kind for n in notifications_for(mia)] == ["meetup_scheduled"]


def test_only_the_organizer_invites(people, in_a_week):
    olga, ivan, mia, sam = people
    meetup = schedule(olga, in_a_week, [ivan])
    with pytest.raises(flows.NotOrganizer):
        flows.invite(meetup.pk, ivan, [mia])
    assert meetup.invitations.count() == 1


def test_changing_a_meetup_tells_every_invitee_what_changed(people, in_a_week):
    olga, ivan, mia, _ = people
    meetup = schedule(olga, in_a_week, [ivan, mia])
    flows.rsvp(meetup.pk, mia, "no")
    forget_earlier_notifications()

    later = in_a_week + timedelta(hours=2)
    changed = flows.change_meetup(
        meetup.pk, olga, title="Board games", starts_at=later, place="Library", notes=""
    )

    assert changed.starts_at == later and changed.place == "Library"
    for invitee in (ivan, mia):
        [notification] = notifications_for(invitee)
        assert notification.kind == "meetup_changed"
        assert notification.subject == "Changed: Board games"
        assert "(time, place)" in notification.text
        assert "Where: Library" in notification.text
        assert later.strftime("%H:%M") in notification.text
        assert "please check your answer" in notification.text
    assert notifications_for(olga) == []
    # RSVPs stay as they were.
    assert meetup.invitations.get(invitee=mia).rsvp == "no"


def test_a_change_that_changes_nothing_notifies_nobody(people, in_a_week):
    olga, ivan, *_ = people
    meetup = schedule(olga, in_a_week, [ivan])
    forget_earlier_notifications()
    flows.change_meetup(meetup.pk, olga, title=" Board games ", place="Cafe Central")
    assert nobody_notified()


def test_a_title_change_does_not_ask_to_check_the_time(people, in_a_week):
    olga, ivan, *_ = people
    meetup = schedule(olga, in_a_week, [ivan])
    forget_earlier_notifications()
    flows.change_meetup(meetup.pk, olga, title="Chess")
    [notification] = notifications_for(ivan)
    assert "(title)" in notification.text and "check your answer" not in notification.text


def test_only_the_organizer_changes_and_not_into_the_past(people, in_a_week):
    olga, ivan, *_ = people
    meetup = schedule(olga, in_a_week, [ivan])
    with pytest.raises(flows.NotOrganizer):
        flows.change_meetup(meetup.pk, ivan, place="My place")
    with pytest.raises(flows.StartsInThePast):
        flows.change_meetup(meetup.pk, olga, starts_at=timezone.now() - timedelta(hours=1))
    meetup.refresh_from_db()
    assert meetup.place == "Cafe Central" and meetup.starts_at == in_a_week
    with pytest.raises(TypeError):
        flows.change_meetup(meetup.pk, olga, organizer=ivan)


def test_cancelling_notifies_every_invitee_and_closes_the_meetup(people, in_a_week):
    olga, ivan, mia, _ = people
    meetup = schedule(olga, in_a_week, [ivan, mia])
    forget_earlier_notifications()
    with pytest.raises(flows.NotOrganizer):
        flows.cancel_meetup(meetup.pk, ivan)

    cancelled = flows.cancel_meetup(meetup.pk, olga)

    assert cancelled.is_cancelled and cancelled.cancelled_at is not None
    for invitee in (ivan, mia):
        [notification] = notifications_for(invitee)
        assert notification.kind == "meetup_cancelled"
        assert "Olga cancelled the meetup Board games" in notification.text
    # A cancelled meetup takes no more changes, invitations or answers.
    with pytest.raises(flows.MeetupClosed) as closed:
        flows.cancel_meetup(meetup.pk, olga)
    assert closed.value.reason == "cancelled"
    with pytest.raises(flows.MeetupClosed):
        flows.change_meetup(meetup.pk, olga, place="Elsewhere")
    with pytest.raises(flows.MeetupClosed):
        flows.rsvp(meetup.pk, ivan, "yes")
    with pytest.raises(flows.MeetupClosed):
        flows.invite(meetup.pk, olga, [mia])
    assert len(notifications_for(ivan)) == 1


def test_rsvp_notifies_the_organizer_once_per_new_answer(people, in_a_week, settings):
    settings.SITE_URL = "https://meetups.example.org"
    olga, ivan, *_ = people
    meetup = schedule(olga, in_a_week, [ivan])

    invitation = flows.rsvp(meetup.pk, ivan, "yes")
    flows.rsvp(meetup.pk, ivan, "yes")  # the same answer again: nothing new to tell
    flows.rsvp(meetup.pk, ivan, "maybe")

    assert invitation.rsvp == "yes" and invitation.responded_at is not None
    assert meetup.invitations.get(invitee=ivan).rsvp == "maybe"
    answers = notifications_for(olga, "meetup_rsvp")
    assert [n.subject for n in answers] == ["Ivan: going to Board games", "Ivan: maybe to Board games"]
    assert "Ivan answered your invitation to Board games: going." in answers[0].text
    assert answers[0].link == f"https://meetups.example.org/meetups/{meetup.pk}/"


def test_only_invitees_rsvp_and_only_with_a_real_answer(people, in_a_week):
    olga, ivan, mia, sam = people
    meetup = schedule(olga, in_a_week, [ivan])
    for outsider in (olga, mia, sam):
        with pytest.raises(flows.NotInvited):
            flows.rsvp(meetup.pk, outsider, "yes")
    for bad in ("pending", "sure", ""):
        with pytest.raises(ValueError):
            flows.rsvp(meetup.pk, ivan, bad)
    assert not notifications_for(olga)


def test_a_meetup_that_started_is_closed(people, in_a_week):
    olga, ivan, *_ = people
    meetup = schedule(olga, in_a_week, [ivan])
    Meetup.objects.filter(pk=meetup.pk).update(starts_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(flows.MeetupClosed) as closed:
        flows.rsvp(meetup.pk, ivan, "yes")
    assert closed.value.reason == "past"
    with pytest.raises(flows.MeetupClosed):
        flows.cancel_meetup(meetup.pk, olga)


def test_a_rolled_back_meetup_event_notifies_nobody(people, in_a_week):
    olga, ivan, *_ = people
    meetup = schedule(olga, in_a_week, [ivan])
    forget_earlier_notifications()

    with pytest.raises(RuntimeError), transaction.atomic():
        flows.cancel_meetup(meetup.pk, olga)
        assert len(notifications_for(ivan)) == 1
        raise RuntimeError("the caller failed after cancelling")

    meetup.refresh_from_db()
    assert not meetup.is_cancelled
    assert nobody_notified()
