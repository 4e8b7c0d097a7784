"""
GUARDS (pass today): the one-tap POSTs cannot be ridden from another origin, even by a page
whose requests carry the person's cookies.

Inside Telegram Web's frame the site's cookies are `SameSite=None; Partitioned`: any other
document in the same partition (another bot's Mini App is also a frame of web.telegram.org)
sends them with its requests. What stops it acting for the person is Django's CSRF check:
the token it cannot read, and the Origin it cannot forge. The suite had no test that the
choice page's and the Mini App launch's POSTs are refused from a foreign origin when the
cookies *are* there (its tests use the test client, which skips CSRF checks).
"""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from infra.local.telegram_sandbox import mini_app_keys
from project.telegram_accounts.models import TelegramAccount

from .conftest import signed_in_user
from .telegram_side import pressed_url

pytestmark = pytest.mark.django_db

FOREIGN = "https://evil.example"
APP = "/accounts/telegram/app/"


def test_guard_a_foreign_origin_cannot_press_connect_on_the_choice_page(email_user, sandbox):
    """A pending Telegram identity waits in Carol's session; a page on another origin posts
    `action=connect` with Carol's cookies and even the right CSRF token (the strongest case):
    Django refuses it on the Origin, nothing is linked."""
    stranger = sandbox.add_user(692100, "Nell", None, "nell_tg", started=True)
    carol = Client(enforce_csrf_checks=True)
    carol.force_login(email_user)
    arrived = carol.get(pressed_url(sandbox, stranger, "/"), HTTP_SEC_FETCH_SITE="none")
    assert arrived["Location"] == reverse("telegram_one_tap_choice")
    carol.get(arrived["Location"])  # the page sets the CSRF cookie
    token = carol.cookies[settings.CSRF_COOKIE_NAME].value

    refused = carol.post(reverse("telegram_one_tap_choice"), {"action": "connect", "csrfmiddlewaretoken": token},
                         HTTP_ORIGIN=FOREIGN, HTTP_SEC_FETCH_SITE="cross-site")
    missing = carol.post(reverse("telegram_one_tap_choice"), {"action": "connect"}, HTTP_SEC_FETCH_SITE="cross-site")

    assert refused.status_code == 403 and missing.status_code == 403
    assert not TelegramAccount.objects.filter(telegram_id=stranger.id).exists()


def test_guard_a_foreign_origin_cannot_post_launch_data_to_sign_someone_in(sandbox, db):
    """Login CSRF through the Mini App: another origin posts its own valid launch data to the
    launch URL with the visitor's cookies: refused by the CSRF check, nobody signed in."""
    fake = sandbox.add_user(692200, "Mallory", None, "mallory_tg", started=True)
    fields = mini_app_keys.launch_fields(settings.LOCAL_SECRETS["telegram_bot_token"],
                                         {"id": fake.id, "first_name": "Mallory"}, int(time.time()))
    visitor = Client(enforce_csrf_checks=True)
    visitor.get(APP, HTTP_SEC_FETCH_DEST="iframe")  # the visitor's CSRF cookie exists
    token = visitor.cookies[settings.CSRF_COOKIE_NAME].value

    refused = visitor.post(APP, {"init_data": mini_app_keys.encode(fields), "theme": json.dumps({}),
                                 "csrfmiddlewaretoken": token}, HTTP_ORIGIN=FOREIGN)

    assert refused.status_code == 403
    assert signed_in_user(visitor) is None
