"""
Two presses at once (the site's button and the Telegram button, or both people asking each
other in the same second) must end as one answer and one request. Real concurrent
transactions need a real server: these run on PostgreSQL and skip on SQLite.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from project.meetups.flows import match_requests as flows
from project.meetups.models import MatchRequest
from tests.meetups.conftest import notifications_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (DATABASE_URL=postgres://...)")


def at_once(*calls):
    """Run the calls in threads released together; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # the outcome under test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_answers_at_once_answer_once_and_notify_once(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")
    request = flows.send_match_request(ann, bob, "hi")

    results = at_once(
        lambda: flows.answer_match_request(request.pk, bob, accept=True),
        lambda: flows.answer_match_request(request.pk, bob, accept=False),
    )

    answered = [r for r in results if isinstance(r, MatchRequest)]
    refused = [r for r in results if isinstance(r, flows.AlreadyAnswered)]
    assert len(answered) == 1 and len(refused) == 1, results
    request.refresh_from_db()
    assert request.status == answered[0].status == refused[0].status
    assert len(notifications_for(ann, "match_request_answered")) == 1


def test_two_people_asking_each_other_at_once_make_one_request(make_person):
    ann, bob = make_person("Ann"), make_person("Bob")

    results = at_once(
        lambda: flows.send_match_request(ann, bob, "from Ann"),
        lambda: flows.send_match_request(bob, ann, "from Bob"),
    )

    sent = [r for r in results if isinstance(r, MatchRequest)]
    refused = [r for r in results if isinstance(r, flows.AlreadyPending)]
    assert len(sent) == 1 and len(refused) == 1, results
    assert MatchRequest.objects.filter(status="pending").count() == 1
    assert len(notifications_for(ann)) + len(notifications_for(bob)) == 1
