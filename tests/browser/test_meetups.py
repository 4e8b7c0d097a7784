"""Planning a meetup with a match: the invitation reaches them on Telegram, they answer on
the site, and a cancellation reaches them too."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, db_lock, list_person, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def matched_pair(stack, make_user):
    from project.meetups.flows.match_requests import answer_match_request, send_match_request

    ada_user, dan_user = make_user("ada@example.com"), make_user("dan@example.com")
    connect_telegram(dan_user, stack.sandbox, 591001, "Dan")
    list_person(ada_user, "Ada")
    list_person(dan_user, "Dan")
    with db_lock:
        request = send_match_request(ada_user, dan_user)
        answer_match_request(request.pk, dan_user, accept=True)
    return ada_user, dan_user


def test_plan_a_meetup_the_invitee_answers_and_hears_of_the_cancellation(stack, new_page, matched_pair):
    ada_user, dan_user = matched_pair
    ada = log_in(new_page(), ada_user)
    ada.goto("/meetups/")
    ada.get_by_role("link", name="New meetup").click()
    ada.get_by_label("Title").fill("Chess and coffee")
    ada.get_by_label("Starts at").fill("2031-05-01T18:30")
    ada.get_by_label("Place").fill("Café Central")
    ada.get_by_label("Dan").check()
    ada.get_by_role("button", name="Schedule meetup").click()
    expect(ada.get_by_role("heading", level=1)).to_have_text("Chess and coffee")
    expect(ada.locator("main")).to_contain_text("Thursday 1 May 2031, 18:30")
    meetup_url = ada.url

    # Dan hears of it on Telegram and answers on the site.
    stack.wait_for_bot_message(591001, "Chess and coffee")
    dan = log_in(new_page(), dan_user)
    dan.goto(meetup_url)
    dan.get_by_role("button", name="Going", exact=True).click()
    expect(dan.get_by_role("button", name="Going", exact=True)).to_have_attribute("aria-pressed", "true")

    ada.reload()
    expect(ada.get_by_role("listitem").filter(has_text="Dan")).to_contain_text("Going")

    ada.get_by_text("Cancel this meetup").click()
    ada.get_by_role("button", name="Cancel the meetup").click()
    expect(ada.locator("main")).to_contain_text("Cancelled")
    stack.wait_for_bot_message(591001, "cancelled")
