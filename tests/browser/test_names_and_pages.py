"""
People are shown by their display names (profile name, else Telegram name, else the part of
their email before the @), never by the username allauth generated; the settings page names
the Telegram account as people know it; the notifications page has a tidy header and no raw
links of the site beside its Open buttons (issue 13, item 7).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, db_lock, list_person, log_in
from .test_email_sign_in import accounts_with, ask_for_email, code_in, the_email

pytestmark = pytest.mark.browser


def test_signing_in_greets_the_person_by_name_not_by_the_generated_username(page, site, mailoutbox, make_user):
    # Someone already has the username "alice", so allauth generates one like "alice1796027424".
    make_user("someone@example.com", username="alice")
    ask_for_email(page, "alice@example.com")
    page.get_by_label("Code").fill(code_in(the_email(mailoutbox, "alice@example.com")))
    page.get_by_role("button", name="Sign in").click()

    (alice,) = accounts_with("alice@example.com")
    assert alice.username != "alice"
    expect(page.get_by_role("status")).to_have_text("Successfully signed in as alice.")
    expect(page.locator("main")).to_contain_text("You are signed in as alice (alice@example.com).")
    assert alice.username not in page.content()

    # Once she names herself, that is the name.
    list_person(alice, "Alice Liddell")
    page.goto("/accounts/logout/")
    expect(page.locator("main")).to_contain_text("Sign out of Meetups as Alice Liddell?")
    assert alice.username not in page.content()


def test_the_settings_page_names_the_telegram_account_never_its_numeric_id(new_page, site, sandbox, make_user):
    una = make_user("una@example.com")
    connect_telegram(una, sandbox, 640001, "Una", username="una_u")
    vic = make_user("vic@example.com")
    connect_telegram(vic, sandbox, 640002, "Vic")  # no @username on Telegram

    for user, shown, telegram_id in ((una, "Una (@una_u)", 640001), (vic, "Vic", 640002)):
        page = log_in(new_page(), user)
        page.goto("/settings/notifications/")
        channels = page.locator(".card", has=page.get_by_role("heading", name="Your channels"))
        expect(channels).to_contain_text(f"Telegram: connected {shown}")
        expect(channels).not_to_contain_text(str(telegram_id))


def test_the_notifications_page_has_a_tidy_header_and_no_raw_site_links(page, site, make_user):
    from project.meetups.flows.match_requests import answer_match_request, send_match_request

    ada, ben, cleo = make_user("ada@example.com"), make_user("ben@example.com"), make_user("cleo@example.com")
    for user, name in ((ada, "Ada"), (ben, "Ben"), (cleo, "Cleo")):
        list_person(user, name)
    with db_lock:
        send_match_request(ben, ada, "Chess? My club: https://chess.example.org/club")
        answer_match_request(send_match_request(ada, cleo, "Hi").pk, cleo, accept=True)

    log_in(page, ada)
    page.goto("/notifications/")
    main = page.locator("main")
    expect(main.locator("article")).to_have_count(2)

    # The title and both actions share one line, the actions flush with the cards' right edge.
    title = page.get_by_role("heading", level=1).bounding_box()
    actions = [
        main.get_by_role("button", name="Mark all as read").bounding_box(),
        main.get_by_role("link", name="Settings").bounding_box(),
    ]
    card = main.locator("article").first.bounding_box()
    for box in actions:
        assert box["y"] < title["y"] + title["height"] and title["y"] < box["y"] + box["height"], (title, box)
        assert box["x"] > title["x"] + title["width"]
    assert abs(max(b["x"] + b["width"] for b in actions) - (card["x"] + card["width"])) <= 2, (actions, card)

    # No link to the site in the texts (the Open buttons are the links); what Ben wrote stays.
    for text in main.locator("article > p:not(.muted)").all_inner_texts():
        assert site.url not in text and "127.0.0.1" not in text, text
    ben_request = main.locator("article", has_text="Ben sent you a match request")
    expect(ben_request).to_contain_text("https://chess.example.org/club")
    expect(main.locator("article", has_text="Cleo accepted")).to_contain_text("so you can invite them to a meetup.")

    ben_request.get_by_role("button", name="Open").click()
    assert page.url.startswith(site("/requests/#request-")), page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Match requests")
