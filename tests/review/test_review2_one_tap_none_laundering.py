"""
Review (second pass): `Sec-Fetch-Site: none` as proof that Telegram opened a login_url button.

The fix for login CSRF through attacker-minted login_url fields (flows/login_url.py
`opened_by_telegram`) signs in on the GET alone when the browser sends `Sec-Fetch-Site: none`,
"a navigation no page started ... which no web page can make a browser send". Fetch Metadata
gives `none` to every navigation the *user agent* started: the address bar, a bookmark, and
every link opened from outside the browser (a mail app, SMS, WhatsApp, Slack, a QR scanner,
and Telegram itself for plain links in a message). Chromium keeps `none` through the HTTP
redirects that follow such a navigation, even cross-site ones (w3c/webappsec-fetch-metadata
issue 39: "an address bar navigation to a seemingly benign URL (evil.com) will allow the owner
of the server to redirect the user to an arbitrary cross-site URL and make the navigation seem
trusted"; Chrome kept that behaviour for short links). So `none` means "the person opened some
link outside a web page", not "the Telegram app opened our button".

The victim's browser is the Django test client with the headers Chromium sends after a link
in an email app to https://short.example/x that answers 302 to the signed button URL (no
Referer: the chain started outside the web). The attacker's side is the real sandbox playing
Telegram: a site button sent by the bot over HTTP, pressed by the attacker's fake user.
"""

from __future__ import annotations

import pytest
from django.test import Client


from .conftest import signed_in_user
from .telegram_side import pressed_url

pytestmark = pytest.mark.django_db

# Chromium, for a link opened from another app (or typed) whose server 302s to our URL.
OPENED_FROM_AN_EMAIL_THEN_REDIRECTED = {
    "HTTP_SEC_FETCH_SITE": "none",
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_SEC_FETCH_DEST": "document",
    "HTTP_SEC_FETCH_USER": "?1",
}


MALLORY_TELEGRAM_ID = 690300  # the mallory fixture (conftest.py)


def test_a_link_in_an_email_that_redirects_to_a_fresh_button_url_does_not_sign_in_without_asking(mallory, sandbox):
    """
    Attack (login CSRF, delivered outside the web): Mallory emails (or texts, or posts in
    any chat app) "Your meetup is confirmed: https://short.example/m/42". Her server answers
    that URL with a 302 to a login_url URL it mints at that moment for her own Telegram
    account (any MTProto client gets one from messages.requestUrlAuth/acceptUrlAuth), so the
    fields are fresh and unused. The victim's browser opened the link from the mail app:
    `Sec-Fetch-Site: none`, kept through the redirect. The GET signs the victim in as
    Mallory at once (one_tap.arrive, from_telegram=True), with no question.

    Impact: the same as the cross-site link the first fix closed (the victim types into
    Mallory's account: profile, match requests, support messages, addresses), only the link
    now travels by email or chat instead of a web page. It also defeats the fix's own stated
    invariant ("no web page can make a browser send" none): a web server can, for anyone who
    starts from a link outside the browser.

    Fix: `Sec-Fetch-Site: none` cannot tell Telegram from any other app, so it must not be
    enough on its own for a sign-in on GET. Sign in at once only when this browser is already
    known to the account (e.g. a long-lived, signed, HttpOnly "signed in here before as user
    N" cookie set by every sign-in; Telegram's in-app browser keeps it from its first,
    confirmed, use); otherwise show the "Continue as ...?" page whose CSRF-protected POST
    signs in. (Whatever is chosen, the docstrings in login_url.py and one_tap.py should stop
    claiming that none proves Telegram opened the URL.)
    """
    _, fake = mallory
    url = pressed_url(sandbox, fake, "/requests/")
    victim = Client()  # a browser that has never been signed in to Mallory's account

    response = victim.get(url, **OPENED_FROM_AN_EMAIL_THEN_REDIRECTED)

    assert signed_in_user(victim) is None, (
        "a link opened from an email that redirects to Mallory's fresh button URL signed the "
        f"victim in as {signed_in_user(victim)} without a question (status {response.status_code}, "
        f"Location {response.get('Location')!r}): Sec-Fetch-Site none does not prove Telegram opened it"
    )
