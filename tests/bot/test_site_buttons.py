"""Contract C1: every Telegram message that links to the site does it with site_button."""

from __future__ import annotations

import pytest

from project.bot.buttons import NotASitePath, path_of, site_button

from .conftest import call, deliveries, make_user, message_update


def _target(button: dict) -> str:
    """Where a site button leads: a url button's url, or a login_url button's url (one-tap)."""
    if "login_url" in button:
        return button["login_url"]["url"]
    return button["url"]


def test_a_site_button_opens_a_path_of_this_site(settings):
    button = site_button("Open", "/requests/12/")
    assert button["text"] == "Open"
    target = _target(button)
    assert target.startswith(settings.SITE_URL + "/")
    assert "/requests/12/" in target or "%2Frequests%2F12%2F" in target


@pytest.mark.parametrize("bad", ["https://evil.example/", "//evil.example/x", "requests/", "/\\evil", "/a b", ""])
def test_a_site_button_refuses_anything_but_a_path(bad):
    with pytest.raises(NotASitePath):
        site_button("Open", bad)


def test_path_of_accepts_paths_and_this_sites_urls_only(settings):
    assert path_of(settings.SITE_URL + "/meetups/3/#x") == "/meetups/3/#x"
    assert path_of("/meetups/3/") == "/meetups/3/"
    assert path_of("https://elsewhere.example/meetups/3/") is None
    assert path_of("") is None


def _site_urls(payload: dict) -> list[str]:
    return [_target(b) for row in payload.get("reply_markup", {}).get("inline_keyboard", []) for b in row
            if "url" in b or "login_url" in b]


@pytest.mark.django_db
def test_notifications_open_on_the_site_through_a_site_button(settings):
    from project.notifications import notify

    user = make_user("ada@example.com", telegram_id=4242)
    notify(user, "meetup_changed", text="Moved", link=settings.SITE_URL + "/meetups/3/")
    [delivery] = deliveries(4242, "sendMessage")
    [button] = [b for row in delivery.payload["reply_markup"]["inline_keyboard"] for b in row]
    assert button == site_button("Open on the site", "/meetups/3/")


@pytest.mark.django_db
@pytest.mark.parametrize("command, known", [("/start", False), ("/start", True), ("/stop", True), ("/stop", False)])
def test_bot_replies_that_link_to_the_site_carry_a_site_button(settings, command, known):
    if known:
        make_user("ada@example.com", telegram_id=4242)
    call(message_update(4242, command))
    [delivery] = deliveries(4242, "sendMessage")
    urls = _site_urls(delivery.payload)
    assert urls and all(u.startswith(settings.SITE_URL + "/") for u in urls)
    assert "href=" in delivery.payload["text"]  # the link stays in the text for clients without buttons
