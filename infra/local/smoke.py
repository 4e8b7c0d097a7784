"""
A smoke test of a running `make dev`: the whole loop through the real processes.

    make dev            # in one terminal
    make smoke          # in another

Two fake Telegram users connect their site accounts through the bot's /start link, one sends
the other a match request (the site's own flow), the request appears in the recipient's
sandbox chat with its buttons, the recipient presses Accept there, and the answer reaches
the requester's chat. Each step goes through the same processes a person's would: the
outbox, moto's SQS, the sender, the sandbox, the webhook gateway and handler.
"""

from __future__ import annotations

import os
import sys
import time

import httpx

from infra.local import devstack

SANDBOX = f"http://127.0.0.1:{devstack.SANDBOX_PORT}"


def wait_for(what: str, check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise SystemExit(f"FAILED: {what} did not happen within {timeout:.0f} s.")


def post(path: str, **data) -> None:
    """A form post to the sandbox, as its pages make them (they answer with a redirect)."""
    answer = httpx.post(f"{SANDBOX}{path}", data=data)
    if answer.status_code >= 400:
        raise SystemExit(f"FAILED: the sandbox refused {path}: {answer.status_code} {answer.text[:200]}")


def chat(chat_id: int) -> list[dict]:
    return httpx.get(f"{SANDBOX}/chat/{chat_id}/messages.json").json()["messages"]


def main() -> int:
    for key, value in devstack.LOCAL_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("OUTBOX_QUEUE_URL", f"http://127.0.0.1:{devstack.AWS_PORT}/123456789012/outbox-local")
    import django

    django.setup()
    from django.db import transaction

    from project.accounts.models import User
    from project.meetups.flows import match_requests, profiles
    from project.telegram_accounts.flows.connect_via_bot import issue_start_token
    from project.telegram_accounts.models import TelegramAccount

    run = int(time.time()) % 100000
    people = {}
    for name, telegram_id in (("Ada", 900000000 + run * 2), ("Bo", 900000001 + run * 2)):
        user = User.objects.create(username=f"smoke-{name.lower()}-{run}", first_name=name)
        profiles.update_profile(user, display_name=f"{name} (smoke {run})", bio="", discoverable=True)
        post("/users", id=telegram_id, first_name=name)
        token = issue_start_token(user)
        post(f"/chat/{telegram_id}/start", payload=token)
        wait_for(f"{name}'s /start linking the chat", lambda: TelegramAccount.objects.filter(user=user).exists())
        people[name] = (user, telegram_id)
        print(f"ok  {name} connected Telegram {telegram_id} through /start")

    (ada, ada_chat), (bo, bo_chat) = people["Ada"], people["Bo"]
    with transaction.atomic():
        request = match_requests.send_match_request(ada, bo, "Coffee on Saturday?")
    started = time.monotonic()

    def request_with_buttons():
        for message in chat(bo_chat):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button.get("callback_data") == f"mr:{request.pk}:accept":
                        return message
        return None

    message = wait_for("the match request reaching Bo's chat", request_with_buttons)
    print(f"ok  the request reached Bo's sandbox chat in {time.monotonic() - started:.1f} s, with its buttons")

    post(f"/chat/{bo_chat}/press", message_id=message["message_id"], data=f"mr:{request.pk}:accept")
    wait_for(
        "Ada hearing that Bo accepted",
        lambda: any("accept" in (m.get("text") or "").lower() for m in chat(ada_chat)),
    )
    request.refresh_from_db()
    assert request.status == "accepted", request.status
    print(f"ok  Bo pressed Accept in the chat; Ada's chat has the answer ({time.monotonic() - started:.1f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
