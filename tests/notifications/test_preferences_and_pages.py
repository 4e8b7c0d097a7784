"""Preferences (defaults, per kind and channel, the all-off switch, security always on) and
the pages: settings, the notifications list, unread marking."""

from __future__ import annotations

import pytest

from project.notifications import kinds, notify
from project.notifications.flows import preferences


def channels_of(notification) -> dict[str, str]:
    return {d.channel: d.status for d in notification.deliveries.all()}


def test_defaults_follow_the_kind(make_person, sandbox):
    person = make_person(telegram_id=9001, sandbox=sandbox)
    assert preferences.channels_for(person, "match_request_received") == ["telegram", "email"]
    assert preferences.channels_for(person, "meetup_changed") == ["telegram"]
    assert channels_of(notify(person, "meetup_changed", text="x")) == {"telegram": "queued"}


def test_channels_that_cannot_be_used_are_recorded_as_skipped(make_person):
    nobody = make_person(email=None)
    unverified = make_person(verified=False)
    assert channels_of(notify(nobody, "match_request_received", text="x")) == {"telegram": "skipped", "email": "skipped"}
    n = notify(unverified, "match_request_received", text="x")
    assert n.deliveries.get(channel="email").last_error == "No verified email address."
    assert n.deliveries.get(channel="telegram").last_error == "Telegram is not connected."


def test_unknown_kinds_are_refused(make_person):
    with pytest.raises(kinds.UnknownKind):
        notify(make_person(), "no_such_kind", text="x")


def test_the_settings_page_saves_choices_and_the_all_off_switch(make_person, client, sandbox):
    person = make_person(telegram_id=9002, sandbox=sandbox)
    client.force_login(person)
    page = client.get("/settings/notifications/")
    html = page.content.decode()
    assert page.status_code == 200 and "always on" in html and "Account security" in html
    assert 'name="security__telegram"' not in html  # cannot be turned off: not a field
    # Email only for match requests; everything else off.
    response = client.post("/settings/notifications/", {"match_request_received__email": "on"})
    assert response.status_code == 302
    assert preferences.channels_for(person, "match_request_received") == ["email"]
    assert preferences.channels_for(person, "meetup_changed") == []
    assert preferences.channels_for(person, "security") == ["telegram", "email"]
    # All off: nothing but security, and the per-kind choices are kept for later.
    client.post("/settings/notifications/", {"match_request_received__email": "on", "all_off": "on"})
    assert preferences.channels_for(person, "match_request_received") == []
    assert channels_of(notify(person, "match_request_received", text="x")) == {}
    assert channels_of(notify(person, "security", text="Telegram was connected")) == {"telegram": "queued", "email": "queued"}
    html = client.get("/settings/notifications/").content.decode()
    assert 'name="all_off" id="all_off" checked' in html
    assert 'name="match_request_received__email" id="match_request_received__email" checked' in html
    client.post("/settings/notifications/", {"match_request_received__email": "on"})
    assert preferences.channels_for(person, "match_request_received") == ["email"]


def test_the_settings_page_explains_a_missing_telegram(make_person, client):
    person = make_person()
    client.force_login(person)
    html = client.get("/settings/notifications/").content.decode()
    assert "not connected" in html and "account page" in html


def test_each_person_sees_their_own_notifications_and_marks_them_read(make_person, client):
    me, other = make_person(), make_person()
    mine = notify(me, "match_request_received", text="Ada would like to meet you", link="/requests/")
    notify(other, "match_request_received", text="Not for you")
    client.force_login(me)
    html = client.get("/notifications/").content.decode()
    assert "Ada would like to meet you" in html and "Not for you" not in html and "1 unread" in html
    # Someone else's notification cannot be marked (or opened) through me.
    theirs = other.notifications.get()
    client.post(f"/notifications/{theirs.pk}/read/")
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = client.post(f"/notifications/{mine.pk}/read/", {"follow": "1"})
    assert response.status_code == 302 and response["Location"] == "/requests/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    notify(me, "meetup_changed", text="b")
    notify(me, "meetup_changed", text="c")
    client.post("/notifications/read-all/")
    assert not me.notifications.filter(read_at__isnull=True).exists()


def test_pages_need_a_signed_in_person(client, db):
    assert client.get("/notifications/").status_code == 302
    assert client.get("/settings/notifications/").status_code == 302


@pytest.mark.parametrize(
    "text, shown",
    [
        ("Ben would like to match with you.\n\n\"Hi\"\n\nAccept or decline: {site}/requests/#request-3",
         "Ben would like to match with you.\n\n\"Hi\""),
        ("Dan accepted. You are matched now, so you can invite them to a meetup: {site}/meetups/new/",
         "Dan accepted. You are matched now, so you can invite them to a meetup."),
        ("Ann invited you to a meetup: Picnic\nWill you come? Answer here: {site}/meetups/4/",
         "Ann invited you to a meetup: Picnic\nWill you come?"),
        ("Cy cancelled the meetup Picnic.\n{site}/meetups/4/", "Cy cancelled the meetup Picnic."),
        # Links people wrote themselves, and other sites' links, are theirs to keep.
        ("\"My club: https://chess.example.org/club\"\nDetails: {site}/requests/",
         "\"My club: https://chess.example.org/club\""),
        ("No links at all.", "No links at all."),
    ],
)
def test_the_notifications_page_shows_texts_without_the_sites_own_links(text, shown, settings):
    from project.notifications.models import Notification
    from project.notifications.templatetags.notifications_tags import text_for_the_site

    settings.SITE_URL = "https://meetups.example.org"
    notification = Notification(text=text.format(site=settings.SITE_URL), link="/requests/")
    assert text_for_the_site(notification) == shown
