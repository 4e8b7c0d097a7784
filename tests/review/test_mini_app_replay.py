"""
Review: Mini App launch data used twice, with only Telegram's Ed25519 signature checked.

TELEGRAM_MINI_APP_CHECKS = "ed25519" is a supported configuration (issue 14: "the Ed25519
third-party signature with Telegram's public key (no token needed)"; docs/ARCHITECTURE.md).
Then the only thing that makes a launch "used once" is the `signature` field, which
flows/mini_app.py check() spends *as text* (signed_once.claim on fields["signature"]) while
_check_signature() verifies the *decoded bytes*. base64url text is not unique for its bytes:
the 64-byte signature is 86 characters, so "=" / "==" padding may be added, and the last
character carries 4 bits that decoding drops, so 16 spellings of it decode alike
(base64.urlsafe_b64decode is not strict). Telegram's own signature is not covered by
anything else in that mode (`hash` is not checked).
"""

from __future__ import annotations

import html
import json
import re
import time

import pytest
from django.test import Client

from infra.local.telegram_sandbox import mini_app_keys
from project.accounts.models import User
from project.telegram_accounts.flows import linking
from tests.telegram_accounts.one_tap import known_to

from .conftest import signed_in_user

pytestmark = pytest.mark.django_db

APP = "/accounts/telegram/app/"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def ada(db, sandbox):
    fake = sandbox.add_user(691100, "Ada", "Lovelace", "ada_tg", started=True)
    user = User.objects.create_user(username="ada", email="ada@example.com", first_name="Ada")
    linking.link(user, {"id": fake.id, "first_name": fake.first_name, "username": fake.username})
    return user, fake


def launch(client, fields: dict):
    # The launch page as a Telegram app's web view opens it (Sec-Fetch-Site: none): its form
    # carries that to the POST, without which a launch only asks "Continue as ...?" and the
    # replays below would sign no one in whatever their spelling (the fix for login CSRF).
    page = client.get(APP, HTTP_SEC_FETCH_SITE="none", HTTP_SEC_FETCH_DEST="document")
    opened = html.unescape(re.search(r'name="opened" value="([^"]*)"', page.content.decode()).group(1))
    return client.post(APP, {"init_data": mini_app_keys.encode(fields), "theme": json.dumps({}), "opened": opened})


def respellings(signature: str) -> list[str]:
    """Other base64url spellings of the same 64 signature bytes."""
    assert len(signature) == 86
    head, last = signature[:-1], signature[-1]
    value = B64URL.index(last)
    same_bytes = [B64URL[(value & 0b110000) | low] for low in range(16) if (value & 0b110000) | low != value]
    return [signature + "=", signature + "==", *(head + ch for ch in same_bytes)]


def test_with_only_the_ed25519_check_one_launch_signs_in_once_however_its_signature_is_spelled(ada, settings):
    """
    Attack: with TELEGRAM_MINI_APP_CHECKS = "ed25519", someone who obtains Ada's launch data
    within its auth_date window (30 s: a shared screen or screenshot of the launch URL, a
    proxy or extension that sees the fragment, the Mini App URL forwarded) posts it again
    after Ada's launch with the signature re-spelled: "…=" or "…==" or a different last
    character. Each spelling is a new key for signed_once but the same bytes for Ed25519, so
    each signs in as Ada: up to 18 sessions from one launch.

    Impact: the "each launch used once" guarantee (issue 14, DESIGN "a replay ... signs no
    one in") does not hold in this mode; a captured launch is a reusable sign-in as its
    Telegram user for its whole window.

    Fix (project/telegram_accounts/flows/mini_app.py, _check_signature and check): accept
    only the canonical spelling (exactly 86 characters of [A-Za-z0-9_-], no padding, and
    re-encoding the decoded 64 bytes must give the same text; or decode with
    base64.b64decode(..., validate=True) after checking the unused bits are zero), and spend
    the decoded bytes (or their canonical re-encoding), not the text as sent.
    """
    settings.TELEGRAM_MINI_APP_CHECKS = "ed25519"
    user, fake = ada
    fields = mini_app_keys.launch_fields(settings.LOCAL_SECRETS["telegram_bot_token"],
                                         {"id": fake.id, "first_name": "Ada", "username": "ada_tg"}, int(time.time()))
    own = known_to(Client(), user)
    assert launch(own, fields).status_code == 302 and signed_in_user(own) == user  # Ada's own launch

    replays = []
    for spelling in respellings(fields["signature"]):
        # The strongest thief: a browser that has been Ada's before (a shared computer), so
        # a replay that got past the checks would sign in at once, not ask first.
        thief = known_to(Client(), user)
        launch(thief, {**fields, "signature": spelling})
        if signed_in_user(thief) == user:
            replays.append(spelling[-3:])
    assert replays == [], f"{len(replays)} re-spelled copies of one launch signed in as Ada (endings {replays})"


def test_guard_with_both_checks_a_respelled_signature_breaks_the_hash(ada, settings):
    """GUARD (passes today): with the default checks (hmac and ed25519) the `hash` covers the
    signature's text, so a re-spelled copy is refused and signs no one in."""
    settings.TELEGRAM_MINI_APP_CHECKS = "hmac,ed25519"
    user, fake = ada
    fields = mini_app_keys.launch_fields(settings.LOCAL_SECRETS["telegram_bot_token"],
                                         {"id": fake.id, "first_name": "Ada"}, int(time.time()))
    assert launch(known_to(Client(), user), fields).status_code == 302
    for spelling in respellings(fields["signature"])[:3]:
        thief = known_to(Client(), user)
        assert launch(thief, {**fields, "signature": spelling}).status_code == 400
        assert signed_in_user(thief) is None
