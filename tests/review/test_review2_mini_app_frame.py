"""
Review (second pass): `Sec-Fetch-Dest: iframe` as proof that Telegram opened the Mini App page
(project/telegram_accounts/flows/mini_app.py `opened_by_telegram`).

The launch page counts as "opened by Telegram" when its GET has `Sec-Fetch-Dest: iframe`,
because "frame-ancestors lets only Telegram frame the page". frame-ancestors checks who the
frame's *ancestors* are, not who navigated the frame. Inside Telegram Web, every Mini App (any
bot's, the attacker's too) runs in an iframe whose parent is https://web.telegram.org. The
attacker's Mini App can navigate its own frame (`location = "https://<site>/accounts/
telegram/app/#tgWebAppData=<her launch data>"`): the request is `Sec-Fetch-Dest: iframe`,
`Sec-Fetch-Site: cross-site` (exactly what Telegram Web's own frame sends), the only ancestor is
web.telegram.org so the page renders, its script posts the attacker's launch data with the
CSRF cookie of that (partitioned) jar, and the signed `opened` verdict says Telegram.
What differs is only the initiator, which the page sees as the Referer (the attacker's page,
or none when she sets Referrer-Policy: no-referrer; never https://web.telegram.org).
"""

from __future__ import annotations

import html
import re

import pytest
from django.core import signing
from django.test import Client

from project.telegram_accounts.flows import mini_app

pytestmark = pytest.mark.django_db

APP = "/accounts/telegram/app/"

# Chromium, for the attacker's Mini App frame (parent: web.telegram.org) navigating itself.
ATTACKERS_FRAME_NAVIGATING_ITSELF = {
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "iframe",
    "Referer": "https://mallory-mini-app.example/",
}


def test_a_frame_navigated_by_another_bots_mini_app_is_not_taken_for_telegram():
    """
    Attack (login CSRF inside Telegram Web): Mallory's bot has a Mini App. A victim who uses
    Telegram Web opens it (a game, a poll); its page navigates its own frame to this site's
    launch page with Mallory's fresh launch data in the fragment. The launch page's GET is
    `Sec-Fetch-Dest: iframe`, so its form carries opened={"telegram": true}; the script
    posts Mallory's launch data and the victim is signed in as Mallory at once
    (one_tap.arrive, from_telegram=True), with no question.

    Impact: low. The session is the one in the jar partitioned under web.telegram.org (the
    one this site's own Mini App uses in Telegram Web; unpartitioned where a browser ignores
    `Partitioned` but allows third-party cookies), so the victim's next use of this site's
    Mini App in Telegram Web shows Mallory's account or a "Switch?" question, and what the
    victim types there is Mallory's. It needs the victim to open Mallory's Mini App.

    Fix: trust the frame case only when the Referer's origin is one of
    conf.mini_app_frame_ancestors() (Telegram Web's own frame load; a navigation by another
    origin cannot claim it), else treat it like any other launch ("Continue as ...?").
    Check first that Telegram Web's iframes send a Referer (it has no referrerpolicy on them
    today as far as known); if they do not, the frame case cannot be told apart and should
    be asked.
    """
    page = Client().get(APP, headers=ATTACKERS_FRAME_NAVIGATING_ITSELF)
    assert page.status_code == 200
    token = html.unescape(re.search(r'name="opened" value="([^"]*)"', page.content.decode()).group(1))
    verdict = signing.loads(token, salt=mini_app.OPENED_SALT)

    assert verdict.get("telegram") is not True, (
        "the launch page framed by another bot's Mini App (Referer "
        f"{ATTACKERS_FRAME_NAVIGATING_ITSELF['Referer']}) is signed as opened by Telegram: {verdict}"
    )
