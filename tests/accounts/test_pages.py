"""Home, 404 and 500 pages, and what every page of the sign-in flow must hold to: our own
base template, the Content-Security-Policy, no inline script or style, phone-width ready."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client

from tests.accounts.helpers import last_sign_in_email, request_sign_in

pytestmark = pytest.mark.django_db
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"\sstyle=|<style", re.I)


@pytest.fixture
def user():
    user = get_user_model().objects.create(username="ada", email="ada@example.com")
    EmailAddress.objects.create(user=user, email="ada@example.com", primary=True, verified=True)
    return user


def assert_own_page(response, status=200):
    assert response.status_code == status
    body = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert '<link rel="stylesheet" href="/static/css/site.css">' in body
    assert not INLINE_SCRIPT.search(body), "inline <script> breaks script-src 'self'"
    assert not INLINE_STYLE.search(body), "inline styles break style-src 'self'"
    assert "https://" not in re.sub(r'href="https://[^"]*"', "", body), "nothing loaded from elsewhere"
    assert "script-src 'self'" in response["Content-Security-Policy"]
    return body


def test_home_for_a_visitor_offers_sign_in(client):
    body = assert_own_page(client.get("/"))
    assert 'href="/accounts/login/"' in body
    assert "Sign in or create an account" in body


def test_home_for_a_signed_in_person_shows_who_and_the_account(client, user):
    client.force_login(user)
    body = assert_own_page(client.get("/"))
    assert user.display_name in body  # contract C4: the display name, not the address
    assert 'href="/accounts/"' in body and 'href="/accounts/logout/"' in body
    assert "Sign in or create an account" not in body


def test_404_page(client):
    body = assert_own_page(client.get("/no/such/page/"), status=404)
    assert "Page not found" in body
    assert 'href="/"' in body


def test_500_page(settings):
    settings.ROOT_URLCONF = "tests.accounts.urls_with_error"
    response = Client(raise_request_exception=False).get("/fail/")
    body = assert_own_page(response, status=500)
    assert "Something went wrong" in body
    assert "a bug in some view" not in body and "Traceback" not in body


def test_every_sign_in_page_is_our_own(client, user):
    assert_own_page(client.get("/accounts/login/"))
    request_sign_in(client, "ada@example.com")
    sent = last_sign_in_email()
    assert_own_page(client.get("/accounts/login/code/confirm/"))
    assert_own_page(Client().get(sent.path))
    wrong = "BBBB-BBBB" if sent.code != "BBBB-BBBB" else "CCCC-CCCC"
    assert_own_page(client.post("/accounts/login/code/confirm/", {"code": wrong}))
    assert_own_page(client.get("/accounts/login/link/unknown-token/"), status=404)
    client.post("/accounts/login/code/confirm/", {"code": sent.code})
    assert_own_page(client.get("/accounts/"))
    assert_own_page(client.get("/accounts/email/"))
    assert_own_page(client.get("/accounts/logout/"))
    client.post("/accounts/email/", {"email": "new@example.com", "action_add": "1"})
    assert_own_page(client.get("/accounts/confirm-email/"))


def test_messages_are_shown(client):
    response = request_sign_in(client, "msg@example.com")
    body = client.get(response["Location"]).content.decode()
    assert '<ul class="messages" role="status">' in body
    assert "We sent an email to msg@example.com with a sign-in code and a link." in body


def test_emails_come_as_text_and_html_from_our_templates(client):
    request_sign_in(client, "both@example.com")
    sent = last_sign_in_email()
    assert sent.subject == f"Your Meetups sign-in code: {sent.code}"
    for body in (sent.text, sent.html):
        assert sent.code in body
        assert sent.link in body
        assert "15 minutes" in body
    assert f'href="{sent.link}"' in sent.html
