"""
Run by tests/bot/test_webhook_role.py in a process of its own, as the webhook function runs:
FUNCTION_ROLE=webhook (its own, smaller INSTALLED_APPS), a database the site migrated, and
handlers.webhook.handler called cold. Prints one JSON object:

  cold     what the first update (a /help) left behind: installed apps, URLconf, imported
           modules, whether the set-up's objects were frozen out of the garbage collector
  updates  for every kind of update the webhook handles, its outcome, the method of its
           webhook answer and how many outbox rows (Deliveries) it wrote
  after    modules imported once updates that link to the site (reverse()) were handled

Not a test module itself (no test_ prefix): a webhook process cannot share the test process's
INSTALLED_APPS, so what the webhook function's own app list can do is checked here.
"""

from __future__ import annotations

import gc
import json
import sys

WATCHED = (
    "project.urls",
    "project.core.webhook_urls",
    "django.contrib.admin",
    "django.contrib.sessions.models",
    "allauth.socialaccount.models",
    "allauth.account.utils",  # imported by allauth's tag library, i.e. by the site's template engine
    "allauth.account.templatetags.account",
    "allauth.socialaccount.signals",  # the site listens to them (project/telegram_accounts/apps.py)
    "telegram",
    "boto3",
)


def _loaded() -> dict[str, bool]:
    return {name: name in sys.modules for name in WATCHED}


def main() -> None:
    from handlers.webhook import handler

    from tests.bot.conftest import (
        answer_of,
        callback_update,
        chat_member_update,
        message_update,
        next_update_id,
        tg_user,
        webhook_event,
    )

    def rows() -> int:
        from django.apps import apps

        if not apps.ready:  # before the first update: an empty, freshly migrated database
            return 0
        from project.notifications.models import Delivery

        return Delivery.objects.count()

    def send(update: dict) -> dict:
        before = rows()
        response = handler(webhook_event(update), None)
        body = json.loads(response["body"])
        answer = answer_of(response)
        return {
            "status": response["statusCode"],
            "outcome": body["outcome"],
            "answer": answer["method"] if answer else None,
            "answer_text": (answer or {}).get("text", ""),
            "rows": rows() - before,
        }

    results: dict = {"updates": {}}
    # The cold start: the process's first update.
    results["updates"]["help"] = send(message_update(4242, "/help"))
    from django.apps import apps
    from django.conf import settings

    results["cold"] = {
        "apps": [config.name for config in apps.get_app_configs()],
        "root_urlconf": settings.ROOT_URLCONF,
        "modules": _loaded(),
        "frozen": gc.get_freeze_count(),
        "gc_enabled": gc.isenabled(),
    }

    # People and things to press on, made now that Django is set up.
    from allauth.account.models import EmailAddress

    from project.meetups.models import MatchRequest
    from project.telegram_accounts.flows.connect_via_bot import issue_start_token
    from tests.bot.conftest import make_user

    ada = make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    bea = make_user("bea@example.com", telegram_id=4343, first_name="Bea")
    alice = make_user("alice@example.com", first_name="Alice")
    for user in (ada, bea, alice):
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    request = MatchRequest.objects.create(from_user=bea, to_user=ada)
    token = issue_start_token(alice)

    updates = results["updates"]
    # Answered in the webhook's response, no outbox row (contract C2).
    updates["settings"] = send(message_update(4242, "/settings"))
    updates["unknown_command"] = send(message_update(4242, "/frobnicate"))
    updates["support_text"] = send(message_update(9001, "Hello, where is the meetup?", first_name="Cy"))
    updates["press_not_connected"] = send(callback_update(9002, f"mr:{request.pk}:accept"))
    updates["block"] = send(chat_member_update(4343, "kicked", "member"))
    updates["unblock"] = send(chat_member_update(4343, "member", "kicked"))
    updates["ignored"] = send({"update_id": next_update_id(), "edited_message": {
        "message_id": 1, "from": tg_user(4242), "chat": {"id": 4242, "type": "private"}, "date": 1_700_000_000,
        "edit_date": 1_700_000_001, "text": "edited"}})
    results["no_row_modules"] = _loaded()
    # What matters goes through the outbox; these link to the site (reverse()).
    updates["accept"] = send(callback_update(4242, f"mr:{request.pk}:accept"))
    updates["start_with_token"] = send(message_update(9101, f"/start {token}", first_name="Alice"))
    from project.notifications.models import Delivery

    question = Delivery.objects.filter(chat_id=9101, method="sendMessage").latest("id").payload
    link = next(button["callback_data"] for row in question["reply_markup"]["inline_keyboard"]
                for button in row if button["text"] == "Link")
    updates["link"] = send(callback_update(9101, link, message_id=41, text="Link this Telegram…"))
    updates["stop"] = send(message_update(4242, "/stop"))
    from project.telegram_accounts.models import TelegramAccount

    results["linked_to_alice"] = TelegramAccount.objects.filter(telegram_id=9101, user=alice).exists()
    results["after"] = _loaded()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
