"""The meetups pages: what each person sees, what they may do, and the errors they get."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from project.meetups.flows import match_requests as match_flows
from project.meetups.flows import meetups as meetup_flows
from project.meetups.models import Invitation, MatchRequest, Meetup, Profile
from tests.meetups.conftest import notifications_for

pytestmark = pytest.mark.django_db


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def local(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("name", ["people", "requests", "meetups", "create", "profile"])
def test_pages_need_a_signed_in_person(client, name):
    response = client.get(reverse(f"meetups:{name}"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_people_lists_only_discoverable_others(make_person):
    me = make_person("Me")
    make_person("Visible One", bio="Likes chess")
    make_person("Hidden One", discoverable=False)

    html = page(signed_in(me).get(reverse("meetups:people")))

    assert "Visible One" in html and "Likes chess" in html
    assert "Hidden One" not in html
    assert "<h3>Me</h3>" not in html
    assert "@example.org" not in html  # nobody's email address is shown


def test_people_empty_state_and_opt_in(make_person, django_user_model):
    newcomer = django_user_model.objects.create(username="new", email="new@example.org")
    client = signed_in(newcomer)

    html = page(client.get(reverse("meetups:people")))
    assert "You are not listed" in html
    assert "Nobody else is listed yet." in html
    assert Profile.objects.get(user=newcomer).discoverable is False  # created on demand, private

    response = client.post(
        reverse("meetups:profile"), {"display_name": "Newt", "bio": "Hi", "discoverable": "on"}, follow=True
    )
    assert "Other people can find you" in page(response)
    profile = Profile.objects.get(user=newcomer)
    assert (profile.display_name, profile.bio, profile.discoverable) == ("Newt", "Hi", True)
    assert "Newt" in page(signed_in(make_person("Other")).get(reverse("meetups:people")))

    client.post(reverse("meetups:profile"), {"display_name": "Newt", "bio": "Hi"})  # unticked: opt out
    assert Profile.objects.get(user=newcomer).discoverable is False


def test_profile_form_errors_are_shown(make_person):
    me = make_person("Me")
    html = page(signed_in(me).post(reverse("meetups:profile"), {"display_name": "x" * 81, "bio": ""}))
    assert "errorlist" in html and "at most 80 characters" in html


def test_sending_a_request_from_the_people_page(make_person):
    me, bob = make_person("Me"), make_person("Bob")

    response = signed_in(me).post(reverse("meetups:send_request", args=[bob.pk]), {"message": "Hello Bob"}, follow=True)

    html = page(response)
    assert "Request sent to Bob" in html
    request = MatchRequest.objects.get()
    assert (request.from_user, request.to_user, request.message) == (me, bob, "Hello Bob")
    assert [n.kind for n in notifications_for(bob)] == ["match_request_received"]
    # Bob's people page now offers to answer; mine says it is waiting.
    assert "Answer their request" in page(signed_in(bob).get(reverse("meetups:people")))
    assert "Request sent" in page(signed_in(me).get(reverse("meetups:people")))


def test_a_second_request_shows_a_clear_error(make_person):
    me, bob = make_person("Me"), make_person("Bob")
    client = signed_in(me)
    client.post(reverse("meetups:send_request", args=[bob.pk]), {"message": "one"})

    html = page(client.post(reverse("meetups:send_request", args=[bob.pk]), {"message": "two"}))

    assert "already sent this person a request" in html
    assert MatchRequest.objects.count() == 1


def test_a_too_long_message_is_a_form_error(make_person):
    me, bob = make_person("Me"), make_person("Bob")
    html = page(signed_in(me).post(reverse("meetups:send_request", args=[bob.pk]), {"message": "x" * 501}))
    assert "at most 500 characters" in html
    assert not MatchRequest.objects.exists()


def test_hidden_people_and_oneself_have_no_request_page(make_person):
    me, hidden = make_person("Me"), make_person("Hidden", discoverable=False)
    client = signed_in(me)
    assert client.get(reverse("meetups:send_request", args=[hidden.pk])).status_code == 404
    assert client.post(reverse("meetups:send_request", args=[hidden.pk]), {"message": "x"}).status_code == 404
    assert client.get(reverse("meetups:send_request", args=[me.pk])).status_code == 404
    assert not MatchRequest.objects.exists()


def test_requests_page_accept_decline_and_withdraw(make_person):
    ann, bob, cid = make_person("Ann"), make_person("Bob"), make_person("Cid")
    from_ann = match_flows.send_match_request(ann, bob, "Hi from Ann")
    from_cid = match_flows.send_match_request(cid, bob, "Hi from Cid")
    to_cid = match_flows.send_match_request(ann, make_person("Dee"), "Hi Dee")

    bob_client = signed_in(bob)
    html = page(bob_client.get(reverse("meetups:requests")))
    assert "Hi from Ann" in html and "Hi from Cid" in html
    assert f'action="{reverse("meetups:answer_request", args=[from_ann.pk])}"' in html

    html = page(bob_client.post(reverse("meetups:answer_request", args=[from_ann.pk]), {"answer": "accept"}, follow=True))
    assert "You are matched with Ann" in html
    html = page(bob_client.post(reverse("meetups:answer_request", args=[from_cid.pk]), {"answer": "decline"}, follow=True))
    assert "You declined Cid" in html
    assert MatchRequest.objects.get(pk=from_ann.pk).status == "accepted"
    assert MatchRequest.objects.get(pk=from_cid.pk).status == "declined"
    assert [n.kind for n in notifications_for(ann)] == ["match_request_answered"]

    # Answering again says what happened instead of failing.
    html = page(bob_client.post(reverse("meetups:answer_request", args=[from_cid.pk]), {"answer": "accept"}, follow=True))
    assert "already declined" in html
    # Matches and history are listed.
    html = page(bob_client.get(reverse("meetups:requests")))
    assert "Your matches" in html and "Declined" in html and "Accepted" in html

    ann_client = signed_in(ann)
    assert "Withdraw" in page(ann_client.get(reverse("meetups:requests")))
    page(ann_client.post(reverse("meetups:withdraw_request", args=[to_cid.pk]), follow=True))
    assert MatchRequest.objects.get(pk=to_cid.pk).status == "withdrawn"


def test_only_the_recipient_answers_and_only_the_sender_withdraws(make_person):
    ann, bob, eve = make_person("Ann"), make_person("Bob"), make_person("Eve")
    request = match_flows.send_match_request(ann, bob, "hi")
    answer_url = reverse("meetups:answer_request", args=[request.pk])
    withdraw_url = reverse("meetups:withdraw_request", args=[request.pk])

    assert signed_in(eve).post(answer_url, {"answer": "accept"}).status_code == 404
    assert signed_in(ann).post(answer_url, {"answer": "accept"}).status_code == 404
    assert signed_in(eve).post(withdraw_url).status_code == 404
    assert signed_in(bob).post(withdraw_url).status_code == 404
    assert signed_in(bob).post(reverse("meetups:answer_request", args=[99999]), {"answer": "accept"}).status_code == 404
    assert signed_in(bob).get(answer_url).status_code == 405  # answering is a POST, never a link
    assert MatchRequest.objects.get().is_pending


def test_posts_need_the_csrf_token(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    request = match_flows.send_match_request(ann, bob, "hi")
    strict = signed_in(bob, enforce_csrf_checks=True)
    assert strict.post(reverse("meetups:answer_request", args=[request.pk]), {"answer": "accept"}).status_code == 403
    assert MatchRequest.objects.get().is_pending


@pytest.fixture
def trio(make_person, match):
    """Olga organizes; Ivan is matched with her; Sam is not."""
    olga, ivan, sam = make_person("Olga"), make_person("Ivan"), make_person("Sam")
    match(ivan, olga)
    return olga, ivan, sam


def test_meetups_empty_state(make_person):
    html = page(signed_in(make_person("Me")).get(reverse("meetups:meetups")))
    assert "No upcoming invitations." in html
    assert "You are not organizing any upcoming meetup." in html
    assert "You can invite only people you are matched with." in html


def test_creating_a_meetup_with_invitees(trio, in_a_week):
    olga, ivan, sam = trio
    client = signed_in(olga)
    html = page(client.get(reverse("meetups:create")))
    assert "Ivan" in html and "Sam" not in html  # only matched people are offered

    response = client.post(
        reverse("meetups:create"),
        {"title": "Picnic", "starts_at": local(in_a_week), "place": "Park", "notes": "", "invitees": [ivan.pk]},
    )

    meetup = Meetup.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("meetups:detail", args=[meetup.pk])
    assert (meetup.title, meetup.place, meetup.starts_at) == ("Picnic", "Park", in_a_week)
    assert [i.invitee for i in meetup.invitations.all()] == [ivan]
    assert [n.kind for n in notifications_for(ivan, "meetup_scheduled")] == ["meetup_scheduled"]
    assert "Picnic" in page(client.get(reverse("meetups:meetups")))
    assert "Picnic" in page(signed_in(ivan).get(reverse("meetups:meetups")))


def test_meetup_form_errors(trio, in_a_week):
    olga, ivan, sam = trio
    client = signed_in(olga)
    past = timezone.now() - timedelta(hours=1)
    html = page(client.post(reverse("meetups:create"), {"title": "", "starts_at": local(past), "place": "Park"}))
    assert "Pick a time in the future." in html
    assert "This field is required." in html
    # Someone not matched cannot be slipped into the form.
    html = page(
        client.post(
            reverse("meetups:create"),
            {"title": "T", "starts_at": local(in_a_week), "place": "P", "invitees": [sam.pk]},
        )
    )
    assert "errorlist" in html
    assert not Meetup.objects.exists()


def test_meetup_detail_is_for_the_organizer_and_invitees_only(trio, in_a_week):
    olga, ivan, sam = trio
    meetup = meetup_flows.schedule_meetup(olga, title="Picnic", starts_at=in_a_week, place="Park", invitees=[ivan])
    url = reverse("meetups:detail", args=[meetup.pk])

    organizer_html = page(signed_in(olga).get(url))
    assert "Change details" in organizer_html and "Cancel the meetup" in organizer_html
    assert 'name="answer"' not in organizer_html
    invitee_html = page(signed_in(ivan).get(url))
    assert 'name="answer" value="yes"' in invitee_html
    assert "Change details" not in invitee_html and "Cancel the meetup" not in invitee_html
    assert signed_in(sam).get(url).status_code == 404


def test_rsvp_edit_cancel_and_invite_through_the_pages(trio, make_person, match, in_a_week):
    olga, ivan, sam = trio
    mia = make_person("Mia")
    match(olga, mia)
    meetup = meetup_flows.schedule_meetup(olga, title="Picnic", starts_at=in_a_week, place="Park", invitees=[ivan])
    ivan_client, olga_client = signed_in(ivan), signed_in(olga)

    html = page(ivan_client.post(reverse("meetups:rsvp", args=[meetup.pk]), {"answer": "yes"}, follow=True))
    assert "Your answer: going." in html
    assert Invitation.objects.get(invitee=ivan).rsvp == "yes"
    assert [n.kind for n in notifications_for(olga, "meetup_rsvp")] == ["meetup_rsvp"]

    detail = page(olga_client.get(reverse("meetups:detail", args=[meetup.pk])))
    assert "Mia" in detail and "1 going" in detail
    page(olga_client.post(reverse("meetups:invite", args=[meetup.pk]), {"invitees": [mia.pk]}, follow=True))
    assert meetup.invitations.filter(invitee=mia).exists()
    # Sam is not matched: the invite form refuses him.
    olga_client.post(reverse("meetups:invite", args=[meetup.pk]), {"invitees": [sam.pk]})
    assert not meetup.invitations.filter(invitee=sam).exists()

    edit_url = reverse("meetups:edit", args=[meetup.pk])
    assert local(in_a_week) in page(olga_client.get(edit_url))
    later = in_a_week + timedelta(days=1)
    response = olga_client.post(edit_url, {"title": "Picnic", "starts_at": local(later), "place": "Beach", "notes": ""})
    assert response.status_code == 302
    meetup.refresh_from_db()
    assert (meetup.place, meetup.starts_at) == ("Beach", later)
    assert {n.user for n in notifications_for(ivan, "meetup_changed") + notifications_for(mia, "meetup_changed")} == {ivan, mia}

    response = olga_client.post(reverse("meetups:cancel", args=[meetup.pk]), follow=True)
    assert "Meetup cancelled." in page(response)
    meetup.refresh_from_db()
    assert meetup.is_cancelled
    assert len(notifications_for(ivan, "meetup_cancelled")) == 1
    html = page(ivan_client.get(reverse("meetups:detail", args=[meetup.pk])))
    assert "Cancelled" in html and 'name="answer"' not in html
    html = page(ivan_client.post(reverse("meetups:rsvp", args=[meetup.pk]), {"answer": "no"}, follow=True))
    assert "This meetup was cancelled." in html


def test_only_the_organizer_edits_cancels_and_invites(trio, in_a_week):
    olga, ivan, sam = trio
    meetup = meetup_flows.schedule_meetup(olga, title="Picnic", starts_at=in_a_week, place="Park", invitees=[ivan])
    ivan_client = signed_in(ivan)
    assert ivan_client.get(reverse("meetups:edit", args=[meetup.pk])).status_code == 404
    assert ivan_client.post(
        reverse("meetups:edit", args=[meetup.pk]), {"title": "Mine", "starts_at": local(in_a_week), "place": "X"}
    ).status_code == 404
    assert ivan_client.post(reverse("meetups:cancel", args=[meetup.pk])).status_code == 404
    assert ivan_client.post(reverse("meetups:invite", args=[meetup.pk]), {"invitees": [olga.pk]}).status_code == 404
    assert signed_in(sam).post(reverse("meetups:rsvp", args=[meetup.pk]), {"answer": "yes"}).status_code == 404
    html = page(signed_in(olga).post(reverse("meetups:rsvp", args=[meetup.pk]), {"answer": "yes"}, follow=True))
    assert "Only invited people answer" in html
    meetup.refresh_from_db()
    assert (meetup.title, meetup.status) == ("Picnic", "scheduled")
    assert ivan_client.get(reverse("meetups:cancel", args=[meetup.pk])).status_code == 405


def test_after_a_decline_people_and_the_request_page_say_when_asking_again_is_possible(make_person, settings):
    settings.MEETUPS_DECLINE_COOLDOWN_DAYS = 30
    me, bob = make_person("Me"), make_person("Bob")
    request = match_flows.send_match_request(me, bob, "hi")
    match_flows.answer_match_request(request.pk, bob, accept=False)
    request.refresh_from_db()
    when = match_flows.format_moment(request.answered_at + timedelta(days=30))
    client = signed_in(me)

    html = page(client.get(reverse("meetups:people")))
    card = html.split(f'id="person-{bob.pk}"', 1)[1].split("</article>", 1)[0]
    assert f"You can ask again from <time" in card and when in card
    assert "Send a match request" not in card and "<form" not in card

    html = page(client.get(reverse("meetups:send_request", args=[bob.pk])))
    assert "Bob declined your last request" in html and when in html
    assert "Send request</button>" not in html
    # A post anyway is refused, with the date, and sends nothing.
    html = page(client.post(reverse("meetups:send_request", args=[bob.pk]), {"message": "please"}))
    assert when in html
    assert MatchRequest.objects.filter(from_user=me, to_user=bob).count() == 1

    # The one who declined sees the usual button.
    card = page(signed_in(bob).get(reverse("meetups:people"))).split(f'id="person-{me.pk}"', 1)[1].split("</article>", 1)[0]
    assert "Send a match request" in card
