"""
One new Telegram user signing in from several tabs at once gets one account (issue 12
item 8): no 500, no orphan users. Real concurrency, so PostgreSQL (SQLite serialises every
writer and cannot show the race).

Each tab is its own browser session that went through Telegram on its own (its own state,
its own authorization code); the tabs then come back to the site at the same moment, over
both sign-in flows.
"""

from __future__ import annotations

import threading

import pytest
from allauth.socialaccount.models import SocialAccount
from django.db import connection, connections
from django.test import Client

from project.accounts.models import User
from project.telegram_accounts.models import TelegramAccount

from .conftest import TelegramBrowser, signed_in_user

pytestmark = pytest.mark.django_db(transaction=True)

TABS = ["oidc", "oidc", "oidc", "oidc", "legacy"]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for real concurrency")


def come_back_at_once(tabs: list[tuple[TelegramBrowser, str, object]]) -> list:
    """Every tab finishes its sign-in at the same moment; their responses, in order."""
    barrier = threading.Barrier(len(tabs))
    responses: list = [None] * len(tabs)

    def finish(i, browser, flow, handoff):
        try:
            barrier.wait()
            if flow == "oidc":
                responses[i] = browser.finish_oidc(handoff)
            else:
                responses[i] = browser.client.post(handoff.path, {"tgAuthResult": handoff.auth_result})
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            responses[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=finish, args=(i, *tab)) for i, tab in enumerate(tabs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return responses


@pytest.mark.parametrize("round_", range(3))
def test_several_tabs_at_once_make_one_account(sandbox, round_):
    person = sandbox.add_user(510000 + round_, "Tab", "Opener", f"tabs_{round_}", started=False)
    tabs = []
    for flow in TABS:
        browser = TelegramBrowser(Client(raise_request_exception=False), sandbox)
        handoff = browser.pick_user(browser.go_to_telegram(flow), person.id)
        if flow == "legacy":
            assert browser.client.get(handoff.path).status_code == 200  # the callback page
        tabs.append((browser, flow, handoff))

    responses = come_back_at_once(tabs)

    for (browser, flow, _), response in zip(tabs, responses):
        assert not isinstance(response, Exception), repr(response)
        assert response.status_code == 302, (flow, response.status_code, response.content.decode()[:300])
    users = {signed_in_user(browser.client) for browser, _, _ in tabs}
    assert len(users) == 1 and None not in users
    user = users.pop()
    assert User.objects.count() == 1  # no orphan from a tab that lost the race
    assert TelegramAccount.objects.get().user == user
    assert set(SocialAccount.objects.values_list("provider", "user")) == {
        ("telegram-oidc", user.pk),
        ("telegram", user.pk),
    }
