"""People for the meetups tests: accounts made the way the site makes them (a user row with an
email, and a verified EmailAddress so notifications have somewhere to go)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

_counter = itertools.count(1)


@pytest.fixture
def make_person(db, django_user_model):
    from allauth.account.models import EmailAddress

    from project.meetups.models import Profile

    def make(name: str | None = None, *, discoverable: bool = True, bio: str = ""):
        n = next(_counter)
        name = name or f"Person {n}"
        email = f"{name.lower().replace(' ', '.')}.{n}@example.org"
        user = django_user_model.objects.create(username=f"user{n}", email=email)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        Profile.objects.create(user=user, display_name=name, bio=bio, discoverable=discoverable)
        return user

    return make


@pytest.fixture
def match(db):
    """Make two people matched: one asks, the other accepts (through the real flows)."""
    from project.meetups.flows.match_requests import answer_match_request, send_match_request
    from project.meetups.models import Profile

    def make(a, b):
        Profile.objects.filter(user=b).update(discoverable=True)
        request = send_match_request(a, b, "hi")
        return answer_match_request(request.pk, b, accept=True)

    return make


@pytest.fixture
def in_a_week():
    return (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)


def notifications_for(user, kind=None, *, after: int = 0):
    """The person's notifications (of one kind), oldest first; only those after a mark()."""
    from project.notifications.models import Notification

    qs = Notification.objects.filter(user=user, pk__gt=after)
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs.order_by("id"))


def mark() -> int:
    """The newest notification so far: later assertions look only at what came after it."""
    from project.notifications.models import Notification

    return Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
