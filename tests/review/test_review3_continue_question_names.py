"""
Review (third pass): the "Continue as X?" question after commit 1413ef0 (known browser).

Since 1413ef0 the question on /accounts/telegram/continue/ is the *only* thing standing
between an attacker-minted login_url URL (laundered through any link outside the web) and a
sign-in, and answering it once is permanent: the Continue makes the browser "known" to that
account for a year (tg_known, kept on sign-out), after which every further laundered link for
the same account signs in on the GET with no question at all.

The question names the account by what the attacker types: the account's display name (the
free-text profile name, meetups Profile.display_name) and the Telegram first/last name; the
@username is simply left out when the Telegram account has none. So the attacker's question
can read, word for word, exactly as the victim's own one does. The bot's Link question had
the same problem and was fixed by naming the account by its email address, the one thing an
attacker cannot copy (User.owner_label, review 2).

The Telegram side is minted as Telegram signs a login_url press (the stage's bot token, the
legacy HMAC): what any Telegram user of the bot gets by pressing a button.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from project.telegram_accounts.flows import linking

pytestmark = pytest.mark.django_db

FROM_A_MAIL_APP = {"HTTP_SEC_FETCH_SITE": "none", "HTTP_SEC_FETCH_MODE": "navigate", "HTTP_SEC_FETCH_DEST": "document"}


def pressed_url(telegram_id: int, first_name: str, path: str = "/") -> str:
    """A login_url press's URL, signed as Telegram signs it for this stage's bot."""
    fields = {"id": str(telegram_id), "first_name": first_name, "auth_date": str(int(time.time()))}
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    key = hashlib.sha256(settings.LOCAL_SECRETS["telegram_bot_token"].encode()).digest()
    fields["hash"] = hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    return "/accounts/telegram/button/?" + urlencode({"next": path, **fields})


def question_in_a_new_browser(url: str) -> str:
    """The text of the question a browser that was never signed in here is asked."""
    browser = Client()
    arrived = browser.get(url, **FROM_A_MAIL_APP)
    assert arrived.status_code == 302 and arrived["Location"] == "/accounts/telegram/continue/", arrived
    page = browser.get("/accounts/telegram/continue/").content.decode()
    section = re.search(r"<section[^>]*>(.*?)</section>", page, re.S).group(1)
    section = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", section)
    return " ".join(re.sub(r"<[^>]+>", " ", section).split())


def make_user(username: str, email: str, profile_name: str, telegram_id: int):
    from allauth.account.models import EmailAddress

    from project.meetups.models import Profile

    user = get_user_model().objects.create_user(username=username, email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    Profile.objects.update_or_create(user=user, defaults={"display_name": profile_name})
    linking.link(user, {"id": telegram_id, "first_name": "Carol"})
    return user


def test_the_continue_question_for_an_attackers_account_reads_differently_from_the_victims_own():
    """
    Attack: Mallory names her profile "Carol" and her Telegram account "Carol" (no
    @username: many Telegram accounts have none). She mails Carol a short link that 302s to a
    login_url URL she mints for her own Telegram at that moment. Carol, on her new phone
    (a browser never signed in here), is asked "Continue as Carol? Telegram says you are
    Carol, whose account here is Carol." - exactly the words her own button would show her -
    and presses Continue.
    Impact: Carol is signed in to Mallory's account (login CSRF: what she types there,
    requests, contacts, is Mallory's), and the browser is now known to Mallory's account
    for a year, surviving sign-out: every later laundered link signs Carol in to it on the
    GET without any question.
    Fix: name the account in the question by what only its owner has, as the bot's Link
    question does (User.owner_label: its email address, or "an account without an
    email address"), e.g. add a masked address ("c***@example.com") to one_tap.choice's
    context and the confirm/switch text of one_tap_choice.html.
    """
    make_user("carol", "carol@example.com", "Carol", 710001)
    make_user("mallory", "mallory@evil.example", "Carol", 710002)

    carols_own = question_in_a_new_browser(pressed_url(710001, "Carol"))
    mallorys = question_in_a_new_browser(pressed_url(710002, "Carol"))

    assert "Continue as" in carols_own and "Continue as" in mallorys  # both asked, nobody signed in
    assert mallorys != carols_own, (
        "The question for the attacker's account reads exactly as the victim's own: " + mallorys
    )
    assert "carol@example.com" in carols_own and "carol@example.com" not in mallorys
