"""Sending and answering a match request, as two people in two browsers."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, db_lock, list_person, log_in

pytestmark = pytest.mark.browser


def list_myself(page, name: str, bio: str) -> None:
    """On the People page: fill the profile form and opt in to being listed."""
    page.goto("/people/")
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Short bio").fill(bio)
    page.get_by_label("Let other people find me").check()
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("main")).to_contain_text("Listed")


def send_request(page, to_name: str, message: str) -> None:
    page.goto("/people/")
    card = page.locator("article", has=page.get_by_role("heading", name=to_name))
    card.get_by_text("Send a match request").click()
    card.get_by_label(f"Message to {to_name}").fill(message)
    card.get_by_role("button", name="Send request").click()
    expect(page.locator("article", has_text=f"To {to_name}")).to_contain_text("Pending")
    page.goto("/people/")
    expect(page.locator("article", has=page.get_by_role("heading", name=to_name))).to_contain_text("Request sent")


def test_a_request_sent_on_the_site_is_accepted_on_the_site(new_page, make_user):
    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    ada, ben = log_in(new_page(), ada_user), log_in(new_page(), ben_user)
    list_myself(ada, "Ada", "Likes long walks and compilers.")
    list_myself(ben, "Ben", "Board games on Sundays.")

    send_request(ben, "Ada", "Coffee next week?")

    ada.goto("/requests/")
    waiting = ada.locator("article", has_text="Ben would like to match with you")
    expect(waiting).to_contain_text("Coffee next week?")
    waiting.get_by_role("button", name="Accept").click()
    expect(ada.get_by_role("status")).to_contain_text("You are matched with Ben")
    expect(ada.get_by_role("listitem").get_by_text("Ben", exact=True)).to_be_visible()

    ben.goto("/people/")
    expect(ben.locator("article", has=ben.get_by_role("heading", name="Ada"))).to_contain_text("Matched")
    ben.goto("/requests/")
    expect(ben.locator("table")).to_contain_text("Accepted")


def test_a_declined_request_shows_as_declined_to_the_sender(new_page, make_user):
    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    ada, ben = log_in(new_page(), ada_user), log_in(new_page(), ben_user)
    send_request(ben, "Ada", "")

    ada.goto("/requests/")
    ada.locator("article", has_text="Ben would like to match").get_by_role("button", name="Decline").click()
    expect(ada.locator("main")).to_contain_text("No requests are waiting for you.")

    ben.goto("/requests/")
    expect(ben.locator("table")).to_contain_text("Declined")


def test_after_a_decline_people_and_the_form_say_from_when_asking_again_is_possible(new_page, make_user, settings):
    from datetime import timedelta

    from django.utils import timezone

    from project.meetups.flows.match_requests import format_moment
    from project.meetups.models import MatchRequest

    settings.MEETUPS_DECLINE_COOLDOWN_DAYS = 30
    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    ada, ben = log_in(new_page(), ada_user), log_in(new_page(), ben_user)
    send_request(ben, "Ada", "")
    ada.goto("/requests/")
    ada.locator("article", has_text="Ben would like to match").get_by_role("button", name="Decline").click()
    expect(ada.locator("main")).to_contain_text("No requests are waiting for you.")

    with db_lock:
        declined = MatchRequest.objects.get(from_user=ben_user, to_user=ada_user)
    when = format_moment(declined.answered_at + timedelta(days=30))
    ben.goto("/people/")
    card = ben.locator("article", has=ben.get_by_role("heading", name="Ada"))
    expect(card).to_contain_text("Ada declined your last request.")
    expect(card).to_contain_text(f"You can ask again from {when}.")
    expect(card.get_by_text("Send a match request")).to_have_count(0)
    expect(card.get_by_role("button")).to_have_count(0)

    # The request form (reached by its address) says the same and offers nothing to send.
    ben.goto(f"/people/{ada_user.pk}/request/")
    expect(ben.get_by_role("status")).to_contain_text(f"You can ask again from {when}.")
    expect(ben.get_by_role("button", name="Send request")).to_have_count(0)

    # Once the wait is over, the button is back.
    with db_lock:
        MatchRequest.objects.filter(pk=declined.pk).update(answered_at=timezone.now() - timedelta(days=31))
    ben.goto("/people/")
    expect(card).not_to_contain_text("declined")
    send_request(ben, "Ada", "A month later: coffee?")


def test_a_request_is_accepted_with_the_button_under_the_telegram_message(stack, new_page, make_user):
    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    connect_telegram(ada_user, stack.sandbox, 510001, "Ada")
    connect_telegram(ben_user, stack.sandbox, 510002, "Ben")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    ada, ben = log_in(new_page(), ada_user), log_in(new_page(), ben_user)

    send_request(ben, "Ada", "Coffee next week?")

    # Ada's phone: the bot's message, with Accept and Decline under it.
    stack.wait_for_bot_message(510001, "Coffee next week?")
    chat = new_page()
    chat.goto(stack.chat_url(510001))
    message = chat.locator(".msg.bot", has_text="Coffee next week?")
    expect(message.get_by_role("button", name="Decline")).to_be_visible()
    message.get_by_role("button", name="Accept").click()

    # Ben hears about it on Telegram, and the site shows the match to both.
    stack.wait_for_bot_message(510002, "accepted")
    ben.goto("/people/")
    expect(ben.locator("article", has=ben.get_by_role("heading", name="Ada"))).to_contain_text("Matched")
    ada.goto("/requests/")
    expect(ada.get_by_role("listitem").get_by_text("Ben", exact=True)).to_be_visible()
    # The buttons under Ada's message give way to the answer (the bot edits its message).
    chat.reload()
    expect(chat.locator(".msg.bot", has_text="Coffee next week?").get_by_role("button", name="Accept")).to_have_count(0)
