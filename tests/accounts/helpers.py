"""Helpers for the sign-in tests: read the code and link out of the email like a person would."""

import re

from django.core import mail

CODE = re.compile(r"^\s+([A-Z]{4}-[A-Z]{4})\s*$", re.M)
LINK = re.compile(r"(https?://\S+/accounts/login/link/([^/\s]+)/)")


class SignInEmail:
    def __init__(self, message):
        self.message = message
        self.to = message.to
        self.subject = message.subject
        self.text = message.body
        self.html = next((body for body, kind in message.alternatives if kind == "text/html"), "")
        self.code = CODE.search(self.text).group(1)
        self.link, self.token = LINK.search(self.text).groups()

    @property
    def path(self):
        return "/accounts/login/link/" + self.token + "/"


def last_sign_in_email(to=None) -> SignInEmail:
    messages = [m for m in mail.outbox if to is None or to in m.to]
    assert messages, "no email was sent"
    return SignInEmail(messages[-1])


def request_sign_in(client, email, **extra):
    return client.post("/accounts/login/", {"email": email}, **extra)


def signed_in_user(client):
    from django.contrib.auth import get_user_model

    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None
