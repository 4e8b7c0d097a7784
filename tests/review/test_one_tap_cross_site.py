"""
Review: Telegram's login_url fields arriving from another web site (not from a press in Telegram).

The fields Telegram adds to a login_url button's URL are a bearer credential for *the Telegram
user who pressed*: nothing binds them to the browser that opens them (no state, no session).
The site accepts them on a plain GET from anywhere (project/telegram_accounts/views.py
login_url_view, flows/login_url.py complete -> flows/one_tap.py arrive). An attacker who is a
Telegram user can mint fresh signed URLs for their own Telegram account at will (press a site
button in the bot's chat; Telegram's MTProto `messages.requestUrlAuth`/`acceptUrlAuth` hands
the signed URL to any client) and put them behind a link or an auto-redirect on their own
page. Opening it is a top-level GET: the site's Lax session cookie goes along.

The victim's browser is the Django test client; the requests carry the Fetch Metadata a
browser sends for a navigation that another site started (Sec-Fetch-Site: cross-site). The
attacker's side is the real sandbox playing Telegram: a button sent by the bot over HTTP,
pressed by the attacker's fake user, signed with the stage's bot token.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from project.telegram_accounts.models import TelegramAccount

from .conftest import signed_in_user
from .telegram_side import pressed_url

pytestmark = pytest.mark.django_db

# What Chromium sends when a link or script on https://evil.example navigates the top level.
FROM_ANOTHER_SITE = {
    "HTTP_SEC_FETCH_SITE": "cross-site",
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_SEC_FETCH_DEST": "document",
    "HTTP_SEC_FETCH_USER": "?1",
    "HTTP_REFERER": "https://evil.example/",
}


MALLORY_TELEGRAM_ID = 690100  # the mallory fixture (conftest.py)


def test_a_link_on_another_site_does_not_sign_the_visitor_in_as_the_attacker(mallory, sandbox):
    """
    Attack (login CSRF): Mallory presses a site button in her own Telegram chat, takes the
    signed URL and puts it behind a link (or a redirect) on https://evil.example. A visitor
    who is not signed in on the site opens it: the GET alone signs the visitor in as Mallory
    (one_tap.arrive -> sign_in), with no question.

    Impact: the victim now uses Mallory's account without knowing it: what they type there
    (profile, match requests, support messages, an email address they add, a Telegram they
    connect through the account page) lands in Mallory's account, which she reads later.
    The legacy and OIDC sign-ins are bound to a state in the session and cannot be forced
    like this; the login_url endpoint undoes that.

    Fix: sign in on the GET only when the navigation was not started by another site
    (Sec-Fetch-Site "none", which an app opening the URL sends; "same-origin" for our own
    redirects). Otherwise (cross-site, same-site, or no Fetch Metadata at all) show a
    confirmation page ("Continue as Mallory (@mallory_tg)?") whose POST (CSRF-protected)
    signs in, keeping the checked identity in the session as the choice page does. Telegram
    Web's presses (a new tab opened from web.telegram.org) then take one more tap.
    (Since the second review Sec-Fetch-Site "none" no longer signs in either: only a browser
    that has been signed in as the account before does, flows/known_browser.py.)
    """
    _, fake = mallory
    url = pressed_url(sandbox, fake, "/requests/")
    victim = Client()

    response = victim.get(url, **FROM_ANOTHER_SITE)

    assert signed_in_user(victim) is None, (
        f"a cross-site GET signed the visitor in as the attacker (answered {response.status_code} "
        f"to {response.get('Location')})"
    )


def test_a_link_on_another_site_cannot_get_the_attackers_telegram_connected_to_the_victim(email_user, sandbox):
    """
    Attack (account takeover through one click): Mallory names her Telegram account "Carol",
    presses a site button in her own chat, and sends Carol (signed in on the site, no Telegram
    connected) the signed URL from a page of her own. Carol's browser lands on the site's
    real "Connect Telegram?" page ("Telegram says you are Carol (@…). Connect it to Carol?"),
    one_tap.arrive having stashed Mallory's checked identity in Carol's session. One press on
    "Connect Telegram" links Mallory's Telegram to Carol's account (one_tap.resolve
    "connect" -> linking.link). From then on every site button Mallory presses in Telegram
    signs her in as Carol. The same works on a visitor who is not signed in: the identity
    waits 15 minutes (TELEGRAM_ONE_TAP_PENDING_TTL) through an email sign-in, and the page
    offers "I have an account: sign in by email", after which it asks to connect.

    Impact: full, lasting takeover of any account without Telegram, for one click on the
    site's own page; the security notice about a new Telegram connection goes to the victim
    after the fact.

    Root cause: a login_url press proves who the *Telegram* user is, not that the person in
    this browser is that Telegram user, yet flows/one_tap.py offers and performs "connect"
    (and "create") for whatever identity reached the session, from whichever site.

    Fix: never connect on the strength of login_url (or Mini App) fields that reached the
    browser from elsewhere: offer "connect" only for identities that arrived with
    Sec-Fetch-Site "none" (opened by the Telegram app itself), or better, make "Connect
    Telegram" run the legacy/OIDC `process=connect` flow, which is bound to this session's
    state and shows the Telegram account on Telegram's own page; drop a pending identity
    when the session's user changes (sign-in/sign-out) rather than carrying it across.
    """
    carol = email_user
    mallory_tg = sandbox.add_user(690200, "Carol", None, "carol_in_disguise", started=True)
    victim = Client()
    victim.force_login(carol)

    arrived = victim.get(pressed_url(sandbox, mallory_tg, "/requests/"), **FROM_ANOTHER_SITE)
    if arrived.status_code == 302 and arrived["Location"] == reverse("telegram_one_tap_choice"):
        page = victim.get(arrived["Location"]).content.decode()
        if 'value="connect"' in page:
            victim.post(reverse("telegram_one_tap_choice"), {"action": "connect"})  # the one click

    # Later, Mallory presses any site button in her own Telegram, in her own browser.
    attacker = Client()
    attacker.get(pressed_url(sandbox, mallory_tg, "/"))

    assert not TelegramAccount.objects.filter(user=carol, telegram_id=mallory_tg.id).exists(), (
        "the attacker's Telegram account was connected to the victim's account"
    )
    assert signed_in_user(attacker) != carol, "the attacker signs in as the victim with her own Telegram"


def test_guard_a_press_in_a_browser_that_has_been_the_accounts_signs_in_at_once(mallory, sandbox):
    """GUARD (keeps the fix honest): one tap still works for the person whose browser it is.
    A browser that has been signed in as the account before (here by email code, then signed
    out) is signed in and sent to the page by the press alone, whichever way the URL was
    opened (flows/known_browser.py), as issue 14 asks; a new browser is asked once, even when
    the Telegram app opened it (Sec-Fetch-Site: none proves nothing:
    test_review2_one_tap_none_laundering.py)."""
    from allauth.account.models import EmailAddress

    from tests.accounts.helpers import last_sign_in_email, request_sign_in

    user, fake = mallory
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    own = Client()
    request_sign_in(own, user.email)
    own.post("/accounts/login/code/confirm/", {"code": last_sign_in_email(user.email).code})
    own.post(reverse("account_logout"))
    assert signed_in_user(own) is None

    response = own.get(pressed_url(sandbox, fake, "/requests/"), **FROM_ANOTHER_SITE)

    assert response.status_code == 302 and response["Location"] == "/requests/"
    assert signed_in_user(own) == user

    time.sleep(1.01 - time.time() % 1)  # the sandbox signs whole seconds, as Telegram does
    new = Client()
    asked = new.get(pressed_url(sandbox, fake, "/requests/"), HTTP_SEC_FETCH_SITE="none",
                    HTTP_SEC_FETCH_MODE="navigate", HTTP_SEC_FETCH_DEST="document")
    assert asked["Location"] == reverse("telegram_one_tap_choice") and signed_in_user(new) is None
