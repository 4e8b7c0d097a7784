"""
Accessibility basics on the main pages, with the site lived in (tests/browser/scenes.py):
every form control has a label; text, links and buttons reach WCAG AA contrast; Tab starts
at the skip link, follows the page and always shows where focus is, and reaches each page's
main controls; at phone width (375 px) nothing scrolls sideways.

The checks themselves are in a11y.py; the first test proves they catch what they look for.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from . import a11y, scenes
from .conftest import PHONE, log_in

pytestmark = pytest.mark.browser

# path -> labels of controls Tab must reach there (substrings of a11y.describe(stop))
ANONYMOUS_PAGES = {
    "/": ["Sign in or create an account"],
    "/accounts/login/": ["Email address", "Email me a code and a link", "Continue with Telegram"],
}
PERSON_PAGES = {
    "/accounts/": ["Change email", "Notification settings", "Sign out"],
    "/settings/notifications/": ["all_off", "match_request_received__telegram", "Save settings"],
    "/notifications/": ["Settings"],
    "/people/": ["Change your profile", "Send a match request"],
    "/requests/": ["Accept", "Decline", "Withdraw"],
    "/meetups/": [],
}
STAFF_PAGES = {
    "/staff/inbox/": ["Lena", "Omar"],
    "conversation": ["Assigned to", "Assign to me", "Reply", "Send"],
}


def check_pages(page, phone, pages: dict, site) -> list[str]:
    problems = []
    for path, must_reach in pages.items():
        for p in (page, phone):
            response = p.goto(path)
            assert response.ok, f"{path}: HTTP {response.status}"
        found = [f"unlabeled control: {c}" for c in a11y.unlabeled_controls(page)]
        found += [f"contrast: {c}" for c in a11y.contrast_failures(page)]
        found += [f"structure: {c}" for c in a11y.structure_problems(page)]
        stops = a11y.tab_stops(page, count=80)
        found += [f"keyboard: {c}" for c in a11y.tab_order_problems(stops)]
        reached = " | ".join(a11y.describe(s) for s in stops)
        found += [f"keyboard: Tab never reaches {name!r} (reached: {reached})" for name in must_reach if name not in reached]
        found += [f"at 375 px: {c}" for c in a11y.horizontal_overflow(phone)]
        found += [f"at 375 px, contrast: {c}" for c in a11y.contrast_failures(phone)]
        problems += [f"{path}: {problem}" for problem in found]
    return problems


def test_the_checks_catch_what_they_look_for(browser):
    page = browser.new_page(viewport=PHONE)
    try:
        page.set_content(
            '<html><head><style>:focus{outline:none}</style></head><body>'
            '<a href="#x">first</a><button tabindex="3">Late</button><input name="q">'
            '<p style="color:#aaa">faint</p><div style="width:600px">wide</div></body></html>'
        )
        assert a11y.unlabeled_controls(page) == ['<input name="q">']
        assert any("faint" in c for c in a11y.contrast_failures(page))
        structure = " ".join(a11y.structure_problems(page))
        assert "lang" in structure and "<h1>" in structure and "main" in structure and "tabindex" in structure
        keyboard = " ".join(a11y.tab_order_problems(a11y.tab_stops(page)))
        assert "not the skip link" in keyboard and "no visible focus indicator" in keyboard
        assert a11y.horizontal_overflow(page)[0].startswith("page is 6")
    finally:
        page.close()


def test_pages_before_signing_in(page, new_page, site, mailoutbox):
    phone = new_page(PHONE)
    problems = check_pages(page, phone, ANONYMOUS_PAGES, site)

    # The skip link works: Enter on it puts focus on the main content.
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # The code entry page (reached by asking for an email).
    for p in (page, phone):
        p.goto("/accounts/login/")
        p.get_by_role("textbox", name="Email address").fill("ada@example.com")
        p.get_by_role("button", name="Email me a code and a link").click()
        expect(p.get_by_role("heading", level=1)).to_have_text("Check your email")
    problems += check_pages(page, phone, {"/accounts/login/code/confirm/": ["Code from the email", "Sign in", "Send a new code"]}, site)
    assert not problems, "\n".join(problems)


def test_a_signed_in_persons_pages(page, new_page, site, make_user):
    scene = scenes.build(make_user)
    phone = new_page(PHONE)
    log_in(page, scene.ada)
    log_in(phone, scene.ada)
    pages = dict(PERSON_PAGES)
    pages[f"/meetups/{scene.meetup.pk}/"] = []
    problems = check_pages(page, phone, pages, site)
    assert not problems, "\n".join(problems)


def test_the_staff_inbox(page, new_page, site, make_user):
    scene = scenes.build(make_user)
    phone = new_page(PHONE)
    log_in(page, scene.staff)
    log_in(phone, scene.staff)
    pages = dict(STAFF_PAGES)
    pages[f"/staff/inbox/{scene.conversation.pk}/"] = pages.pop("conversation")
    problems = check_pages(page, phone, pages, site)
    assert not problems, "\n".join(problems)


def test_form_errors_are_announced(page, site, mailoutbox):
    page.goto("/accounts/login/")
    page.get_by_role("textbox", name="Email address").fill("ada@example.com")
    page.get_by_role("button", name="Email me a code and a link").click()
    page.get_by_label("Code from the email").fill("WRONG1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()
    # The error must be inside the live region that announces it.
    expect(page.get_by_role("alert").filter(has_text="That code is not right")).to_have_count(1, timeout=1000)
