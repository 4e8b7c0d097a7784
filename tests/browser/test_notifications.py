"""Choosing where notifications go, and the all-off switch, seen through what actually arrives."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, db_lock, list_person, log_in, reload_until
from .test_match_requests import send_request

pytestmark = pytest.mark.browser


def kind_row(page, label: str):
    return page.get_by_role("row", name=re.compile(label))


def save_settings(page) -> None:
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("settings are saved")


def request_notification(page):
    return page.locator("article.notification", has_text="Ben")


def deliveries_of(user) -> list[tuple[str, str]]:
    from project.notifications.models import Delivery

    with db_lock:
        return sorted(Delivery.objects.filter(user=user, notification__isnull=False).values_list("channel", "status"))


@pytest.fixture
def ada_and_ben(stack, new_page, make_user):
    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    connect_telegram(ada_user, stack.sandbox, 530001, "Ada")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    return ada_user, log_in(new_page(), ada_user), log_in(new_page(), ben_user)


def test_a_kind_sent_by_email_only_arrives_by_email_only(stack, ada_and_ben, mailoutbox):
    ada_user, ada, ben = ada_and_ben
    ada.goto("/settings/notifications/")
    expect(ada.locator(".card", has_text="Your channels")).to_contain_text("connected")
    row = kind_row(ada, "Match request received")
    expect(row.get_by_label("Telegram")).to_be_checked()
    row.get_by_label("Telegram").uncheck()
    expect(row.get_by_label("Email")).to_be_checked()
    save_settings(ada)
    # The choice is kept.
    expect(kind_row(ada, "Match request received").get_by_label("Telegram")).not_to_be_checked()
    expect(kind_row(ada, "Match request answered").get_by_label("Telegram")).to_be_checked()

    send_request(ben, "Ada", "Lunch?")

    ada.goto("/notifications/")
    reload_until(ada, lambda p: "Email: sent" in request_notification(p).inner_text())
    assert "Telegram" not in request_notification(ada).inner_text()
    assert [m.subject for m in mailoutbox if "ada@example.com" in m.to]
    assert deliveries_of(ada_user) == [("email", "sent")]
    assert not [m for m in stack.messages(530001) if "Lunch?" in (m.get("text") or "")]


def test_the_all_off_switch_silences_everything_and_keeps_the_choices(stack, ada_and_ben, mailoutbox):
    ada_user, ada, ben = ada_and_ben
    ada.goto("/settings/notifications/")
    kind_row(ada, "Meetup scheduled").get_by_label("Email").uncheck()
    ada.get_by_label("Turn all notifications off").check()
    save_settings(ada)
    expect(ada.get_by_label("Turn all notifications off")).to_be_checked()
    expect(ada.locator("caption")).to_contain_text("all off now")
    # Account security cannot be turned off, all-off or not.
    expect(kind_row(ada, "Account security").get_by_role("checkbox").first).to_be_disabled()

    send_request(ben, "Ada", "Tea?")

    ada.goto("/notifications/")
    expect(request_notification(ada)).to_contain_text("only here")
    assert deliveries_of(ada_user) == []
    assert not [m for m in mailoutbox if "ada@example.com" in m.to]

    # Back on: the choices made before the switch are still there.
    ada.goto("/settings/notifications/")
    ada.get_by_label("Turn all notifications off").uncheck()
    save_settings(ada)
    expect(kind_row(ada, "Meetup scheduled").get_by_label("Email")).not_to_be_checked()
    expect(kind_row(ada, "Match request received").get_by_label("Telegram")).to_be_checked()
