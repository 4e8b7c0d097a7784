"""
Review: live one-use tokens on the site's own pages (RULES: "/start tokens ... never reach the
repository, logs, pages or exceptions").

A `/start <token>` message is stored whole (StoredUpdate.payload) before it is handled, and
since linking asks first (issue 12 item 4) the token stays live after Start: it is used up
only when the person presses Link, and stays live for TELEGRAM_START_TOKEN_TTL (30 min) if
they cancel or ignore the question. The admin's StoredUpdate page shows the payload.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from project.bot.models import StoredUpdate
from project.telegram_accounts.flows.connect_via_bot import check_start_token, issue_start_token

pytestmark = pytest.mark.django_db

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook(update: dict) -> dict:
    """The update as API Gateway (REST) delivers Telegram's POST to the webhook function."""
    from handlers.webhook import handler

    headers = {"Content-Type": "application/json", SECRET_HEADER: settings.LOCAL_SECRETS["telegram_webhook_secret"]}
    event = {
        "resource": "/telegram/webhook", "path": "/telegram/webhook", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "requestContext": {"httpMethod": "POST", "stage": "dev"},
        "body": json.dumps(update), "isBase64Encoded": False,
    }
    return handler(event, None)


def start_message(update_id: int, telegram_id: int, text: str) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 11, "date": 1_700_000_000, "text": text,
        "from": {"id": telegram_id, "is_bot": False, "first_name": "Ada"},
        "chat": {"id": telegram_id, "type": "private", "first_name": "Ada"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }}


def test_a_live_start_token_is_not_shown_on_the_admins_update_page():
    """
    Attack: Ada opens her connect link and presses Start; the bot asks "Link this Telegram to
    the account a…@example.com?" and she does not answer yet (or presses Cancel). Her token
    is still live. A staff member who may only *view* stored updates (the support/operator
    role the update list exists for, no right to change users) opens
    /admin/bot/storedupdate/<id>/change/ and reads `/start <token>` in the payload. From their
    own Telegram they send `/start <token>` and press Link: their Telegram is linked to Ada's
    account and every site button signs them in as Ada.

    Impact: a live account-linking credential on a page; a view-only staff role becomes a
    takeover of any account whose owner is mid-way through connecting Telegram. The
    suite's leak check (tests/conftest.py) looks for token shapes only in log records, so
    nothing catches it.

    Fix: store the update with the token already redacted (the webhook knows the shape:
    project.core.logging's `/start <token>` rule; keep the token's hash if retry_updates
    needs to redeem it), or at least render StoredUpdate.payload in the admin through
    project.core.logging.redact; and extend the suite's leak check to response bodies for
    the token shapes.
    """
    ada = get_user_model().objects.create_user(username="ada", email="ada@example.com")
    token = issue_start_token(ada)
    assert webhook(start_message(700_000_001, 7101, f"/start {token}"))["statusCode"] == 200
    check_start_token(token, {"id": 7101})  # still live: asked, not linked

    viewer = get_user_model().objects.create_user(username="ops", email="ops@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_storedupdate"))
    client = Client()
    client.force_login(viewer)
    stored = StoredUpdate.objects.get(update_id=700_000_001)

    page = client.get(f"/admin/bot/storedupdate/{stored.pk}/change/")

    assert page.status_code == 200
    assert token not in page.content.decode(), "a live /start token is shown on the admin's stored update page"
