"""The shared schedule itself (the several-senders test checks it against the sandbox)."""

from __future__ import annotations

import pytest

from project.notifications import ratelimit


@pytest.fixture(autouse=True)
def rates(settings, db):
    settings.TELEGRAM_GLOBAL_RATE = 20.0
    settings.TELEGRAM_PRIVATE_CHAT_INTERVAL = 1.1
    settings.TELEGRAM_GROUP_CHAT_INTERVAL = 3.2


def test_slots_are_spaced_by_the_global_interval_across_chats():
    t = 1000.0
    results = ratelimit.reserve_sends([1, 2, 3, 4], at=t, horizon=10)
    assert [r[0] for r in results] == pytest.approx([t, t + 0.05, t + 0.10, t + 0.15])
    # A later call (another instance) continues the same schedule.
    assert ratelimit.reserve_send(5, at=t, horizon=10)[0] == pytest.approx(t + 0.20)


def test_a_busy_chat_reserves_nothing_and_says_when_to_come_back():
    t = 2000.0
    assert ratelimit.reserve_send(7, at=t)[0] == t
    slot, again_at, busy = ratelimit.reserve_send(7, at=t + 0.2)
    assert slot is None and busy == "chat" and again_at == pytest.approx(t + 1.1 - 0.05)
    # ...and took no global slot: the next chat goes at once.
    assert ratelimit.reserve_send(8, at=t + 0.2)[0] == pytest.approx(t + 0.2)
    assert ratelimit.reserve_send(7, at=t + 1.1)[0] == pytest.approx(t + 1.1)


def test_groups_get_one_send_per_group_interval():
    t = 3000.0
    assert ratelimit.chat_interval(-100123) == 3.2 and ratelimit.chat_interval(42) == 1.1
    assert ratelimit.reserve_send(-100123, at=t)[0] == t
    assert ratelimit.reserve_send(-100123, at=t + 3.0)[2] == "chat"
    assert ratelimit.reserve_send(-100123, at=t + 3.2)[0] == pytest.approx(t + 3.2)


def test_no_instance_books_beyond_the_horizon():
    t = 4000.0
    results = ratelimit.reserve_sends(list(range(100, 120)), at=t, horizon=0.5)
    booked = [r for r in results if r[0] is not None]
    assert len(booked) in (10, 11)  # slots t, t+0.05, ... up to t+0.5
    assert {r[2] for r in results if r[0] is None} == {"global"}


def test_a_429_pushes_everyone_back():
    t = 5000.0
    ratelimit.reserve_send(9, at=t)
    ratelimit.push_back(ratelimit.GLOBAL, t + 7)
    assert ratelimit.reserve_send(10, at=t + 1, horizon=0.5)[2] == "global"
    assert ratelimit.reserve_send(10, at=t + 7)[0] == pytest.approx(t + 7)
