"""
A lived-in site for the accessibility checks and the screenshots: a few people with profiles,
match requests in every state, a meetup, notifications and a support conversation.

Everything is made through the apps' own flows (so the pages show what real use produces);
nothing is sent anywhere: without a queue URL the test stage skips enqueueing, and the
deliveries the screenshots show as sent are marked so here.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import timedelta

from .conftest import db_lock

_update_ids = itertools.count(int(time.time() * 1000) % 1_000_000_000 + 900_000_000_000)


@dataclass
class Scene:
    ada: object  # the person whose pages are shown
    staff: object
    people: dict
    meetup: object
    conversation: object


def telegram_message(telegram_id: int, first_name: str, username: str, text: str, message_id: int) -> dict:
    person = {"id": telegram_id, "is_bot": False, "first_name": first_name, "username": username}
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": telegram_id, "type": "private", "first_name": first_name, "username": username},
            "from": person,
            "text": text,
        },
    }


def build(make_user) -> Scene:
    from django.utils import timezone

    from project.bot.flows import support
    from project.bot.flows.receive_update import receive_update
    from project.bot.models import Conversation
    from project.meetups.flows.match_requests import answer_match_request, send_match_request
    from project.meetups.flows.meetups import schedule_meetup
    from project.meetups.flows.profiles import update_profile
    from project.notifications.models import Delivery
    from project.telegram_accounts.flows.linking import link

    ada = make_user("ada@example.com", first_name="Ada", last_name="Lovelace")
    staff = make_user("hana@example.com", first_name="Hana", last_name="Ito", is_staff=True)
    people = {
        name: make_user(f"{name.lower()}@example.com", first_name=name)
        for name in ("Ben", "Cleo", "Dan", "Eve", "Finn")
    }
    bios = {
        "Ada": "Mathematician. Into long walks, chess and very early mornings.",
        "Ben": "Board games on Sundays; always up for a coffee.",
        "Cleo": "Cyclist and amateur astronomer. Ask me about meteor showers.",
        "Dan": "Bakes bread, reads sci-fi, plays five-a-side on Thursdays.",
        "Eve": "New in town and looking for a climbing partner.",
        "Finn": "Jazz piano, ramen, and a dog called Miso.",
    }
    with db_lock:
        # Connected the way every path connects (so Ada has the security notice it brings).
        link(ada, {"id": 560001, "first_name": "Ada", "last_name": "Lovelace", "username": "ada_l"})
        update_profile(ada, display_name="Ada", bio=bios["Ada"], discoverable=True)
        for name, user in people.items():
            update_profile(user, display_name=name, bio=bios[name], discoverable=True)
        send_match_request(people["Ben"], ada, "Hi Ada! Fancy a game of chess this weekend?")
        send_match_request(ada, people["Cleo"], "Would love to hear about meteor showers.")
        to_dan = send_match_request(ada, people["Dan"], "Coffee and sci-fi recommendations?")
        answer_match_request(to_dan.pk, people["Dan"], accept=True)
        to_finn = send_match_request(ada, people["Finn"], "Jazz night at the Blue Note?")
        answer_match_request(to_finn.pk, people["Finn"], accept=False)  # People: when to ask again
        from_eve = send_match_request(people["Eve"], ada, "Climbing on Saturday?")
        answer_match_request(from_eve.pk, ada, accept=False)
        meetup = schedule_meetup(
            ada,
            title="Chess and coffee",
            starts_at=timezone.now() + timedelta(days=3, hours=2),
            place="Café Central, Main Square",
            notes="I'll bring the board.",
            invitees=[people["Dan"]],
        )

        receive_update(telegram_message(570001, "Lena", "lena_l", "Hi! How do I change my email address?", 11))
        receive_update(telegram_message(570002, "Omar", "omar", "The bot stopped sending me notifications.", 12))
        conversation = Conversation.objects.get(telegram_id=570001)
        support.reply(conversation, staff, "Open your account page and choose Change email. We send a code to the new address.")
        receive_update(telegram_message(570001, "Lena", "lena_l", "Found it, thank you!", 13))

        # What a running sender would have recorded.
        Delivery.objects.filter(status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENT, sent_at=timezone.now(), attempts=1
        )
    return Scene(ada=ada, staff=staff, people=people, meetup=meetup, conversation=conversation)
