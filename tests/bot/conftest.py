"""Helpers for the bot's tests: webhook events in each AWS shape, people with and without accounts."""

from __future__ import annotations

import base64
import itertools
import json

import pytest

from django.conf import settings

_update_ids = itertools.count(500_000_001)
_message_ids = itertools.count(1)

SECRET = "local-webhook-secret-not-a-secret"


def next_update_id() -> int:
    return next(_update_ids)


def webhook_event(body, *, shape: str = "url", secret: str | None = SECRET, method: str = "POST",
                  base64_body: bool = False, header_name: str = "X-Telegram-Bot-Api-Secret-Token") -> dict:
    """An API Gateway REST (v1), HTTP API (v2) or function URL event carrying `body`."""
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    if base64_body:
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        body = base64.b64encode(raw).decode()
    elif isinstance(body, bytes):
        body = body.decode("utf-8", "surrogateescape")
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[header_name] = secret
    if shape == "v1":
        return {
            "resource": "/telegram/webhook",
            "path": "/telegram/webhook",
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None,
            "requestContext": {"httpMethod": method, "stage": "dev"},
            "body": body,
            "isBase64Encoded": base64_body,
        }
    return {
        "version": "2.0",
        "routeKey": "POST /telegram/webhook" if shape == "v2" else "$default",
        "rawPath": "/telegram/webhook",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": method, "path": "/telegram/webhook"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def call(update: dict | str | bytes, **kwargs) -> dict:
    from handlers.webhook import handler

    return handler(webhook_event(update, **kwargs), None)


def answer_of(response: dict) -> dict | None:
    """The Bot API call a webhook response carries for Telegram to execute (contract C2)."""
    body = json.loads(response["body"])
    if "method" not in body:
        return None
    body.pop("outcome", None)
    return body


def tg_user(user_id: int, first_name: str = "Ada", **extra) -> dict:
    return {"id": user_id, "is_bot": False, "first_name": first_name, **extra}


def message_update(user_id: int, text: str | None = None, *, update_id: int | None = None, first_name="Ada",
                   chat: dict | None = None, **content) -> dict:
    message = {
        "message_id": next(_message_ids),
        "from": tg_user(user_id, first_name),
        "chat": chat or {"id": user_id, "type": "private", "first_name": first_name},
        "date": 1_700_000_000,
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}]
    message.update(content)
    return {"update_id": update_id or next_update_id(), "message": message}


def callback_update(user_id: int, data: str, *, message_id: int = 7, text: str = "Bea would like to meet you.",
                    query_id: str | None = None) -> dict:
    return {
        "update_id": next_update_id(),
        "callback_query": {
            "id": query_id or str(next_update_id()),
            "from": tg_user(user_id),
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": message_id,
                "from": {"id": settings.TELEGRAM_BOT_ID, "is_bot": True, "first_name": "Bot"},
                "chat": {"id": user_id, "type": "private"},
                "date": 1_700_000_000,
                "text": text,
                "entities": [{"type": "bold", "offset": 0, "length": 3}],
                "reply_markup": {"inline_keyboard": [[{"text": "Accept", "callback_data": data}]]},
            },
        },
    }


def chat_member_update(user_id: int, new_status: str, old_status: str) -> dict:
    bot = {"id": settings.TELEGRAM_BOT_ID, "is_bot": True, "first_name": "Bot"}
    return {
        "update_id": next_update_id(),
        "my_chat_member": {
            "chat": {"id": user_id, "type": "private", "first_name": "Ada"},
            "from": tg_user(user_id),
            "date": 1_700_000_000,
            "old_chat_member": {"user": bot, "status": old_status},
            "new_chat_member": {"user": bot, "status": new_status},
        },
    }


def make_user(email: str, *, telegram_id: int | None = None, is_staff: bool = False, first_name: str = ""):
    from django.contrib.auth import get_user_model

    from project.telegram_accounts.models import TelegramAccount

    user = get_user_model().objects.create_user(
        username=email.split("@")[0], email=email, is_staff=is_staff, first_name=first_name
    )
    if telegram_id is not None:
        TelegramAccount.objects.create(user=user, telegram_id=telegram_id, first_name=first_name or "Ada")
    return user


def deliveries(chat_id: int | None = None, method: str | None = None) -> list:
    from project.notifications.models import Delivery

    queryset = Delivery.objects.order_by("id")
    if chat_id is not None:
        queryset = queryset.filter(chat_id=chat_id)
    if method is not None:
        queryset = queryset.filter(method=method)
    return list(queryset)


@pytest.fixture
def person(db):
    """A site account linked to Telegram user 4242."""
    return make_user("ada@example.com", telegram_id=4242, first_name="Ada")


@pytest.fixture
def staff(db):
    return make_user("sam@example.com", is_staff=True, first_name="Sam")
