"""The account page: the email shown, adding or changing it by a code sent to the new address,
Telegram's section, the notification settings link, and signing out."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tests.accounts.helpers import last_sign_in_email, request_sign_in, signed_in_user

pytestmark = pytest.mark.django_db
User = get_user_model()
CODE = re.compile(r"^\s+([A-Z]{4}-[A-Z]{4})\s*$", re.M)


def make_user(username, email=""):
    user = User.objects.create(username=username, email=email)
    user.set_unusable_password()
    user.save()
    if email:
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


def confirmation_code(to):
    message = [m for m in mail.outbox if to in m.to][-1]
    html = next(body for body, kind in message.alternatives if kind == "text/html")
    code = CODE.search(message.body).group(1)
    assert code in html
    return code


def test_account_page_needs_sign_in(client):
    response = client.get("/accounts/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/"


def test_account_page_shows_email_telegram_and_sign_out(client):
    client.force_login(make_user("ada", "ada@example.com"))
    body = client.get("/accounts/").content.decode()
    assert "ada@example.com" in body
    assert 'id="telegram"' in body  # telegram_accounts/_account_section.html
    assert 'action="/accounts/logout/"' in body
    assert 'action="/accounts/email/"' in body and "Change email" in body
    assert 'type="password"' not in body


def test_notification_settings_link_when_that_page_exists(client):
    from django.urls import NoReverseMatch, reverse

    client.force_login(make_user("ada", "ada@example.com"))
    body = client.get("/accounts/").content.decode()
    try:
        url = reverse("notifications:settings")
    except NoReverseMatch:
        assert "Notification settings" not in body
    else:
        assert f'href="{url}"' in body


def test_changing_email_goes_through_a_code_sent_to_the_new_address(client):
    user = make_user("ada", "ada@example.com")
    client.force_login(user)
    response = client.post("/accounts/email/", {"email": "Ada.New@example.com", "action_add": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    # Nothing changes before the code is typed.
    user.refresh_from_db()
    assert user.email == "ada@example.com"
    assert not EmailAddress.objects.filter(email="ada.new@example.com").exists()

    code = confirmation_code("ada.new@example.com")
    page = client.get("/accounts/confirm-email/")
    assert page.status_code == 200 and "ada.new@example.com" in page.content.decode()
    response = client.post("/accounts/confirm-email/", {"action": "verify", "code": code})
    assert response.status_code == 302 and response["Location"] == "/accounts/"

    user.refresh_from_db()
    assert user.email == "ada.new@example.com"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "verified", "primary")) == [
        ("ada.new@example.com", True, True)
    ]
    assert "ada.new@example.com" in client.get("/accounts/").content.decode()

    # The new address signs in to the same account; the old one would start a new account.
    other = Client()
    request_sign_in(other, "ada.new@example.com")
    other.post("/accounts/login/code/confirm/", {"code": last_sign_in_email().code})
    assert signed_in_user(other) == user


def test_a_wrong_code_changes_nothing(client):
    user = make_user("ada", "ada@example.com")
    client.force_login(user)
    client.post("/accounts/email/", {"email": "other@example.com", "action_add": "1"})
    code = confirmation_code("other@example.com")
    wrong = "BBBB-BBBB" if code != "BBBB-BBBB" else "CCCC-CCCC"
    response = client.post("/accounts/confirm-email/", {"action": "verify", "code": wrong})
    assert response.status_code == 200 and "Incorrect code" in response.content.decode()
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_telegram_only_account_adds_its_first_email_by_code(client):
    user = make_user("tg_12345")  # as created through Telegram: no email
    client.force_login(user)
    body = client.get("/accounts/").content.decode()
    assert "No email yet" in body and "Add email" in body

    client.post("/accounts/email/", {"email": "tg@example.com", "action_add": "1"})
    client.post("/accounts/confirm-email/", {"action": "verify", "code": confirmation_code("tg@example.com")})
    user.refresh_from_db()
    assert user.email == "tg@example.com"
    assert EmailAddress.objects.get(user=user).verified


def test_an_address_another_account_uses_is_not_taken_over(client):
    owner = make_user("owner", "taken@example.com")
    user = make_user("other")
    client.force_login(user)
    response = client.post("/accounts/email/", {"email": "taken@example.com", "action_add": "1"})
    # Same answer as for a free address (no enumeration), and even the right code does not
    # move the address to this account.
    assert response.status_code == 302 and response["Location"] == "/accounts/confirm-email/"
    response = client.post(
        "/accounts/confirm-email/", {"action": "verify", "code": confirmation_code("taken@example.com")}
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email == ""
    assert not EmailAddress.objects.filter(user=user).exists()
    assert EmailAddress.objects.get(email="taken@example.com").user == owner


def test_sign_out_asks_first_and_signs_out_on_post(client):
    client.force_login(make_user("ada", "ada@example.com"))
    page = client.get("/accounts/logout/")
    assert page.status_code == 200
    body = page.content.decode()
    assert '<form method="post" action="/accounts/logout/"' in body
    assert signed_in_user(client) is not None  # GET alone signs nobody out

    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_user(client) is None
