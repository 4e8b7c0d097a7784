"""
Staff sign in like everyone else (issue 12 item 1): made by `manage.py make_staff <email>`,
with no password; the admin sends people through the site's own sign-in and back; and no
password, however it was set, signs anyone in anywhere.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from tests.accounts.helpers import last_sign_in_email, request_sign_in, signed_in_user

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct horse battery staple 42"


def sign_in_by_code(client: Client, email: str, next_url: str = ""):
    data = {"email": email}
    path = "/accounts/login/" + (f"?next={next_url}" if next_url else "")
    assert client.post(path, data).status_code == 302
    return client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email(email).code})


# --- make_staff -----------------------------------------------------------------------------


def test_make_staff_creates_a_staff_account_with_no_password(capsys):
    call_command("make_staff", "Boss@Example.com")

    user = User.objects.get(email="boss@example.com")
    assert user.is_staff and not user.is_superuser and user.is_active
    assert not user.has_usable_password()
    assert EmailAddress.objects.filter(user=user, email="boss@example.com", verified=True, primary=True).exists()
    assert "boss@example.com" in capsys.readouterr().out


def test_make_staff_superuser_and_promoting_an_existing_account_keeps_it():
    client = Client()
    sign_in_by_code(client, "ada@example.com")
    existing = signed_in_user(client)
    assert not existing.is_staff

    call_command("make_staff", "ADA@example.com", "--superuser")

    existing.refresh_from_db()
    assert existing.is_staff and existing.is_superuser
    assert User.objects.count() == 1


def test_make_staff_takes_no_password_and_refuses_a_bad_address():
    with pytest.raises(CommandError):
        call_command("make_staff", "not an email")
    with pytest.raises((CommandError, TypeError)):
        call_command("make_staff", "boss@example.com", "--password", PASSWORD)
    assert not User.objects.exists()


# --- the admin goes through the site's sign-in ------------------------------------------------


def test_the_admin_sends_a_visitor_to_the_sites_sign_in_and_back():
    call_command("make_staff", "boss@example.com")
    client = Client()
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    page = response.content.decode()
    assert 'type="password"' not in page

    response = sign_in_by_code(client, "boss@example.com", next_url="/admin/")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_page_is_the_sites_sign_in_for_get_and_post():
    for method in ("get", "post"):
        response = getattr(Client(), method)("/admin/login/?next=/admin/accounts/user/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Faccounts%2Fuser%2F"


def test_the_admin_login_ignores_a_next_that_leaves_the_site():
    response = Client().get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_a_signed_in_person_without_staff_rights_is_not_let_in():
    client = Client()
    sign_in_by_code(client, "ada@example.com")
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
    assert "no access to the admin" in response.content.decode()
    assert signed_in_user(client) is not None  # still signed in, just not let into the admin


# --- no password signs anyone in -------------------------------------------------------------


def password_user(how: str):
    if how == "createsuperuser":
        import os

        os.environ["DJANGO_SUPERUSER_PASSWORD"] = PASSWORD
        try:
            call_command("createsuperuser", "--noinput", "--username", "root", "--email", "root@example.com")
        finally:
            del os.environ["DJANGO_SUPERUSER_PASSWORD"]
        return User.objects.get(username="root")
    user = User.objects.create_user(username="root", email="root@example.com", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.mark.parametrize("how", ["createsuperuser", "set_password"])
def test_a_password_set_by_any_means_signs_no_one_in(how, rf):
    user = password_user(how)

    # No authentication backend accepts it, by username or by email.
    request = rf.post("/")
    assert authenticate(request, username="root", password=PASSWORD) is None
    assert authenticate(request, email="root@example.com", password=PASSWORD) is None
    assert authenticate(request, username="root@example.com", password=PASSWORD) is None
    assert Client().login(username="root", password=PASSWORD) is False

    # Nor does any page that used to take one.
    for path, data in [
        ("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD, "next": "/admin/"}),
        ("/accounts/login/", {"login": "root@example.com", "password": PASSWORD}),
        ("/accounts/login/", {"email": "root@example.com", "password": PASSWORD}),
    ]:
        client = Client()
        client.post(path, data)
        assert signed_in_user(client) is None, path
        assert client.get("/admin/").status_code == 302

    # The password can only be a dead end: the account still signs in by email.
    client = Client()
    sign_in_by_code(client, "root@example.com", next_url="/admin/")
    assert signed_in_user(client) == user


def test_the_user_admin_has_no_password_field_form_or_page():
    staff, _ = __import__("project.accounts.flows.staff", fromlist=["make_staff"]).make_staff(
        "boss@example.com", superuser=True
    )
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/accounts/user/{staff.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="password' not in body and "/password/" not in body
    assert client.get(f"/admin/accounts/user/{staff.pk}/password/").status_code in (302, 404)
    assert client.get("/admin/accounts/user/add/").status_code == 403


def test_the_admins_own_password_change_page_leads_to_the_account_page():
    user = password_user("createsuperuser")  # a hash is there, so the admin would offer the page
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    response = client.get("/admin/password_change/")
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    response = client.post("/admin/password_change/", {"old_password": PASSWORD, "new_password1": "x" * 20, "new_password2": "x" * 20})
    assert response.status_code == 302
    assert Client().login(username="root", password="x" * 20) is False
