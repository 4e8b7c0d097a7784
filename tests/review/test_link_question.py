"""
Review: the question the bot asks before linking (issue 12 item 4), read by the person it is
meant to protect.

The protected case is a person who presses Start on a connect link someone else made: the
bot asks "Link this Telegram to the account a…@example.com on Meetups?" so that, per
project/bot/flows/link_buttons.py, "a person who pressed Start on someone else's link can
tell it is not theirs". The account is named only by masked_email(): the first character
of the local part and the domain. Whoever makes the link chooses their own address.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from project.telegram_accounts.flows.connect_via_bot import issue_start_token

from .telegram_side import question_for

pytestmark = pytest.mark.django_db


def test_the_link_question_tells_the_person_whose_account_it_is():
    """
    Attack: Mallory makes an account with an address she owns that starts with the same
    letter as Alice's and has the same domain (alice@gmail.com vs ax3@gmail.com), opens her
    own account page and sends Alice the connect link ("connect your Telegram to Meetups").
    Alice presses Start; the bot asks "Link this Telegram to the account a…@gmail.com?",
    word for word what it would ask for Alice's own account, so she presses Link.

    Impact: Alice's Telegram is linked to Mallory's account: Alice's later button presses
    and Mini App launches sign her into Mallory's account (what she writes there is
    Mallory's to read), her Telegram identity and reachability are Mallory's, and Alice
    cannot connect her own account until she notices. The question protects only against
    links nobody chose on purpose.

    Fix: name the account so its owner can recognise it and an attacker cannot imitate
    it: the full address of the account the link was made for (the person pressing Start
    was given the link by its owner; a stolen link already lets its holder press Link), or
    the account's display name with the address, plus when the link was made ("made on
    the account page 2 minutes ago"). Masking that keeps only characters the attacker can
    choose does not meet link_buttons.py's stated aim.
    """
    users = get_user_model().objects
    alice = users.create_user(username="alice", email="alice@gmail.com")
    mallory = users.create_user(username="mallory", email="ax3@gmail.com")

    own = question_for(700_100_001, 7201, issue_start_token(alice))
    planted = question_for(700_100_002, 7202, issue_start_token(mallory))

    assert planted != own, f"the question for the attacker's account reads exactly like Alice's own: {own!r}"
