"""
Review (second pass): the bot's Link question after the fix, which names the account as
"<display name> (<full address>)" (project/bot/flows/link_buttons.py account_label).

The fix's reasoning: "The address is the one thing the attacker cannot copy (the display name
they can, so it is only there to be read first)". But the display name is free text the
attacker types on the profile page (meetups Profile.display_name, 80 characters), and it is
read *first*, inside the same bold label, so it can carry the victim's address itself.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from project.telegram_accounts.flows.connect_via_bot import issue_start_token

from .telegram_side import question_for

pytestmark = pytest.mark.django_db


def test_a_display_name_cannot_put_someone_elses_address_into_the_link_question():
    """
    Attack: Mallory (ax3@gmail.com) sets her profile's display name to
    "Alice Smith (alice@gmail.com)" on the profile page, opens her account page and sends
    Alice the connect link ("connect your Telegram to Meetups"). Alice presses Start; the bot
    asks "Link this Telegram to the account <b>Alice Smith (alice@gmail.com) (ax3@gmail.com)</b>
    on Meetups?". Alice reads her own name and her own address first, exactly what the
    question for her own account says ("Alice Smith (alice@gmail.com)"), and presses Link;
    the trailing address is easy to take for Telegram's or the site's own decoration. (The
    name can also be just "alice@gmail.com", or use a Telegram first name when the profile
    has none.)

    Impact: Alice's Telegram is linked to Mallory's account, as in the first finding: Alice's
    button presses and Mini App launches sign her into Mallory's account, and Alice's
    Telegram identity and reachability are Mallory's. The fix's premise ("the address is the
    one thing the attacker cannot copy") does not hold while free text the attacker chooses
    stands before it in the same label.

    Fix: name the account by its address alone in the question (it is what the attacker
    cannot copy), or put the address first and alone in bold ("the account ax3@gmail.com
    (shown as ...)"), and never let a display name that contains "@" (or another account's
    address) into the label; the text that must be recognised must be the one the attacker
    cannot choose.
    """
    users = get_user_model().objects
    alice = users.create_user(username="alice", email="alice@gmail.com", first_name="Alice", last_name="Smith")
    mallory = users.create_user(username="mallory", email="ax3@gmail.com")

    # Mallory sets her display name on the site's own profile page, as anyone can.
    browser = Client()
    browser.force_login(mallory)
    saved = browser.post("/people/profile/", {"display_name": "Alice Smith (alice@gmail.com)", "bio": ""})
    assert saved.status_code in (200, 302)
    mallory.refresh_from_db()
    assert mallory.display_name == "Alice Smith (alice@gmail.com)"

    own = question_for(700_200_001, 7301, issue_start_token(alice))
    planted = question_for(700_200_002, 7302, issue_start_token(mallory))

    assert "alice@gmail.com" in own
    assert "alice@gmail.com" not in planted, (
        "the question for Mallory's account (ax3@gmail.com) shows Alice's own name and address first, "
        f"as Alice's own question does:\n own:     {own!r}\n planted: {planted!r}"
    )
