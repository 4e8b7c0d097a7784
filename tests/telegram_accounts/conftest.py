"""
A browser stand-in for the two Telegram sign-in flows, over real HTTP against the sandbox.

The site side goes through Django's test client (allauth's real views, our adapter), the
Telegram side through httpx to the running sandbox: its pick-a-user page is a form, posted
as a person would. The legacy flow's last step (the callback page's script turning the
#tgAuthResult fragment into a POST) is done here as the script does it; the browser tests
cover the script itself.
"""

from __future__ import annotations

import time

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from project.telegram_accounts import providers

LEGACY_LOGIN = "/accounts/telegram/login/"
OIDC_LOGIN = "/accounts/oidc/telegram-oidc/login/"
LOGIN_URLS = {"legacy": LEGACY_LOGIN, "oidc": OIDC_LOGIN}


def next_second():
    """The sandbox signs auth_date in whole seconds, as Telegram does: a second sign-in by the
    same person within the same second would carry the very same signed data, which the site
    refuses as a replay. People do not sign in twice a second; tests do."""
    time.sleep(1.01 - time.time() % 1)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Handoff:
    """Where Telegram sent the browser back to: the callback path, and the fragment (legacy)."""

    path: str
    fragment: str = ""

    @property
    def auth_result(self) -> str:
        return parse_qs(self.fragment).get("tgAuthResult", [""])[0]

    @property
    def state(self) -> str:
        return parse_qs(urlsplit(self.path).query).get("state", [""])[0]


class TelegramBrowser:
    def __init__(self, client: Client, sandbox):
        self.client = client
        self.sandbox = sandbox

    def go_to_telegram(self, flow: str, process: str = "login", next_url: str | None = None) -> str:
        """Press "Continue with Telegram" and "Continue": the URL of Telegram's page."""
        url = LOGIN_URLS[flow] + f"?process={process}" + (f"&next={next_url}" if next_url else "")
        page = self.client.get(url)
        assert page.status_code == 200, page.status_code  # allauth's confirm page (no login on GET)
        response = self.client.post(url)
        assert response.status_code == 302, response.status_code
        location = response["Location"]
        assert location.startswith(self.sandbox.url + "/auth?"), location
        return location

    def pick_user(self, auth_url: str, user_id: int | None = None, **new_user) -> Handoff:
        """On the sandbox's page, choose a fake user (or create one) and confirm."""
        page = httpx.get(auth_url)
        assert page.status_code == 200, page.text
        form = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
        if user_id is not None:
            form["user_id"] = str(user_id)
        else:
            form.update({"user_id": "new", **new_user})
        answer = httpx.post(f"{self.sandbox.url}/auth", data=form, follow_redirects=False)
        assert answer.status_code in (302, 303), answer.text
        location = answer.headers["location"]
        base, _, fragment = location.partition("#")
        return Handoff(path_of(base), fragment)

    def cancel(self, auth_url: str) -> Handoff:
        form = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
        form["action"] = "cancel"
        answer = httpx.post(f"{self.sandbox.url}/auth", data=form, follow_redirects=False)
        base, _, fragment = answer.headers["location"].partition("#")
        return Handoff(path_of(base), fragment)

    def finish_legacy(self, handoff: Handoff, auth_result: str | None = None, path: str | None = None):
        """What the callback page's script does: load the page, post the fragment's value."""
        path = path if path is not None else handoff.path
        page = self.client.get(path)
        assert page.status_code == 200
        assert b"js/telegram_login.js" in page.content
        value = handoff.auth_result if auth_result is None else auth_result
        return self.client.post(path, {"tgAuthResult": value})

    def finish_oidc(self, handoff: Handoff):
        return self.client.get(handoff.path)

    def sign_in(self, flow: str, user_id: int, process: str = "login", next_url: str | None = None):
        handoff = self.pick_user(self.go_to_telegram(flow, process, next_url), user_id)
        if flow == "legacy":
            return self.finish_legacy(handoff)
        return self.finish_oidc(handoff)


@pytest.fixture
def browser(client, sandbox, db):
    providers.clear_oidc_cache()
    yield TelegramBrowser(client, sandbox)
    providers.clear_oidc_cache()


@pytest.fixture
def other_browser(sandbox, db):
    return TelegramBrowser(Client(), sandbox)


def signed_in_user(client):
    from django.contrib.auth import get_user_model

    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


@pytest.fixture
def alice(sandbox):
    return sandbox.add_user(500100, "Alice", "Liddell", "alice_tg", started=False)


@pytest.fixture
def bob(sandbox):
    return sandbox.add_user(500200, "Bob", None, None, started=False)


@pytest.fixture
def email_user(db):
    """A site account that came by email (verified), with no Telegram yet."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="carol", email="carol@example.com")
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


# --- one tap (login_url buttons, the Mini App): Ada, linked, and the sign-ins seen ----------


@pytest.fixture
def ada_tg(sandbox, request):
    """Ada's Telegram user. Each one-tap module names its own id (ADA_TELEGRAM_ID), so what
    one module's presses leave in the sandbox (spent signatures, chats) never meets another's."""
    return sandbox.add_user(request.module.ADA_TELEGRAM_ID, "Ada", "Lovelace", "ada_tg", started=True)


@pytest.fixture
def ada(ada_tg, db):
    """Ada's site account (ada@example.com), linked to ada_tg."""
    from django.contrib.auth import get_user_model

    from .one_tap import link

    user = get_user_model().objects.create_user(username="ada", email="ada@example.com", first_name="Ada")
    link(user, ada_tg)
    return user


@pytest.fixture
def sign_ins():
    """Every sign-in (user_logged_in) while the test runs."""
    from django.contrib.auth.signals import user_logged_in

    from .one_tap import SignIns

    seen = SignIns()
    user_logged_in.connect(seen)
    yield seen
    user_logged_in.disconnect(seen)
