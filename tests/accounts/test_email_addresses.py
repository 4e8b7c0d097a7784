"""
Email addresses (issue 12 item 6): one address is one account however it is spelled (case,
an internationalised domain in Unicode or in punycode), and an address too long for the
database (254 characters) is a form error, not a 500.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client

from project.accounts.models import EmailSignIn
from tests.accounts.helpers import last_sign_in_email, signed_in_user
from tests.accounts.test_account_page import confirmation_code, make_user

pytestmark = pytest.mark.django_db
User = get_user_model()

# 64 + 1 + 3 labels of 63 + ".com": every part within its own limit, 260 in all.
TOO_LONG = "a" * 64 + "@" + ".".join(c * 63 for c in "bcd") + ".com"
LONGEST = "a" * 58 + "@" + ".".join(c * 63 for c in "bcd") + ".com"  # 254


def sign_in(email: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"email": email})
    assert response.status_code == 302, response.content.decode()[:500]
    to = last_sign_in_email().to[0]
    client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email(to).code})
    assert signed_in_user(client) is not None
    return client


def test_an_address_over_254_characters_is_a_form_error_on_sign_in():
    assert len(TOO_LONG) > 254
    response = Client().post("/accounts/login/", {"email": TOO_LONG})
    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()
    assert not EmailSignIn.objects.exists()


def test_an_address_of_254_characters_signs_in():
    assert len(LONGEST) == 254
    client = sign_in(LONGEST)
    assert signed_in_user(client).email == LONGEST


def test_an_address_over_254_characters_is_a_form_error_on_the_account_page():
    client = Client()
    client.force_login(make_user("ada", "ada@example.com"))
    response = client.post("/accounts/email/", {"email": TOO_LONG, "action_add": "1"})
    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()
    assert EmailAddress.objects.count() == 1


@pytest.mark.parametrize(
    "first, second",
    [
        ("ada@bücher.example", "ada@xn--bcher-kva.example"),
        ("Ada@XN--BCHER-KVA.example", "ADA@BÜCHER.EXAMPLE"),
        ("Ada@Example.COM", "aDA@example.com"),
    ],
)
def test_spellings_of_one_address_are_one_account(first, second):
    one = signed_in_user(sign_in(first))
    other = signed_in_user(sign_in(second))
    assert one == other
    assert User.objects.count() == 1
    assert EmailAddress.objects.count() == 1
    # Stored the way mail servers are given it: lower case, the domain in ASCII.
    assert EmailAddress.objects.get().email.isascii()


def test_the_unicode_spelling_of_an_address_another_account_uses_is_not_taken_over():
    owner = make_user("owner", "taken@xn--bcher-kva.example")
    user = make_user("other")
    client = Client()
    client.force_login(user)
    client.post("/accounts/email/", {"email": "taken@bücher.example", "action_add": "1"})
    client.post("/accounts/confirm-email/", {"action": "verify", "code": confirmation_code("taken@xn--bcher-kva.example")})
    assert not EmailAddress.objects.filter(user=user).exists()
    assert EmailAddress.objects.get().user == owner


def test_one_rate_limit_for_every_spelling_of_an_address():
    spellings = ["eve@bücher.example", "EVE@xn--bcher-kva.example", "eve@BÜCHER.example"]
    for email in spellings:
        assert Client().post("/accounts/login/", {"email": email}).status_code == 302
    refused = Client().post("/accounts/login/", {"email": "Eve@Bücher.Example"})
    assert refused.status_code == 200 and "Too many sign-in emails" in refused.content.decode()


@pytest.mark.parametrize("bad", ["ada@☃.example", "ada@xn--zz-.example", "ada@" + "b" * 64 + ".example"])
def test_a_domain_that_cannot_exist_is_a_form_error(bad):
    response = Client().post("/accounts/login/", {"email": bad})
    assert response.status_code == 200
    assert "valid email address" in response.content.decode()
