"""The partials others include, lazy secrets, and the start-up check against a foreign token."""

from __future__ import annotations

import re

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.template import Context, Template
from django.test import RequestFactory

from project.core import secrets
from project.telegram_accounts.checks import check_bot_token_belongs_to_stage
from project.telegram_accounts.flows.connect_via_bot import redeem_start_token
from project.telegram_accounts.models import StartToken

from tests.conftest import FOREIGN_BOT_TOKEN

pytestmark = pytest.mark.django_db


def render(template_name: str, user) -> str:
    request = RequestFactory().get("/accounts/login/")
    request.user = user
    request.session = {}
    return Template("{% include '" + template_name + "' %}").render(Context({"request": request, "user": user}))


def test_login_buttons_offer_each_enabled_flow_as_a_plain_link(settings):
    from django.contrib.auth.models import AnonymousUser

    html = render("telegram_accounts/_login_buttons.html", AnonymousUser())
    assert 'href="/accounts/oidc/telegram-oidc/login/?process=login"' in html
    assert 'href="/accounts/telegram/login/?process=login"' in html
    assert "<script" not in html

    settings.TELEGRAM_LOGIN_FLOWS = ["legacy"]
    html = render("telegram_accounts/_login_buttons.html", AnonymousUser())
    assert ">Continue with Telegram</a>" in html and "oidc" not in html

    settings.TELEGRAM_LOGIN_FLOWS = []
    assert "href" not in render("telegram_accounts/_login_buttons.html", AnonymousUser())


def test_rendering_the_buttons_reads_no_secret(settings):
    from django.contrib.auth.models import AnonymousUser

    secrets.reset_cache()
    render("telegram_accounts/_login_buttons.html", AnonymousUser())
    assert not secrets.is_loaded()


def test_account_section_for_an_account_without_telegram(django_user_model, settings):
    settings.TELEGRAM_DEEP_LINK_BASE = "https://t.me"  # as deployed (locally: the sandbox's stand-in)
    user = django_user_model.objects.create_user(username="carol", email="carol@example.com")
    html = render("telegram_accounts/_account_section.html", user)
    assert "process=connect" in html
    link = re.search(r'href="(https://t\.me/site_local_bot\?start=([A-Za-z0-9_-]+))"', html)
    assert link, html
    assert StartToken.objects.filter(user=user).count() == 1
    # The link on the page really connects.
    redeem_start_token(link.group(2), {"id": 42, "first_name": "Carol"})
    html = render("telegram_accounts/_account_section.html", user)
    assert "Connected as <strong>Carol</strong>" in html and "reachable" in html
    # No verified email: Telegram is the only way in, so no disconnect button.
    assert "telegram/disconnect" not in html and "only way to sign in" in html


def test_account_section_with_telegram_and_email(email_user):
    from project.telegram_accounts.flows.linking import link

    link(email_user, {"id": 43, "first_name": "Carol", "username": "carol_tg"}).mark_unreachable("blocked")
    html = render("telegram_accounts/_account_section.html", email_user)
    assert "(@carol_tg)" in html and "unreachable" in html
    assert 'action="/accounts/telegram/disconnect/"' in html


def test_account_section_renders_nothing_for_anonymous():
    from django.contrib.auth.models import AnonymousUser

    assert render("telegram_accounts/_account_section.html", AnonymousUser()).strip() == ""


# --- start-up check -------------------------------------------------------------------------


def test_foreign_token_stops_the_stage_at_start_up(monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FOREIGN_BOT_TOKEN)
    secrets.reset_cache()
    errors = check_bot_token_belongs_to_stage()
    assert [e.id for e in errors] == ["telegram_accounts.E001"]
    assert "bot 7000000002" in errors[0].msg and "configured for bot 7000000001" in errors[0].msg
    assert FOREIGN_BOT_TOKEN not in errors[0].msg
    with pytest.raises(SystemCheckError, match="telegram_accounts.E001"):
        call_command("check", "--deploy", "--tag", "telegram")
    # And the first real use refuses too.
    with pytest.raises(secrets.ForeignBotToken):
        secrets.bot_token()


def test_foreign_token_from_secrets_manager_is_refused(aws, settings):
    settings.SECRETS_BACKEND = "aws"
    aws.put_secret(**{**settings.LOCAL_SECRETS, "telegram_bot_token": FOREIGN_BOT_TOKEN})
    secrets.reset_cache()
    assert [e.id for e in check_bot_token_belongs_to_stage()] == ["telegram_accounts.E001"]


def test_own_token_passes_and_the_check_is_deploy_only(monkeypatch):
    assert check_bot_token_belongs_to_stage() == []
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FOREIGN_BOT_TOKEN)
    secrets.reset_cache()
    # An ordinary `manage.py check` does not read the secret at all.
    assert not [e for e in run_checks(tags=None, include_deployment_checks=False) if e.id.startswith("telegram_accounts")]
    assert not secrets.is_loaded()


def test_legacy_callback_with_a_foreign_token_refuses_to_verify(browser, alice, monkeypatch):
    handoff = browser.pick_user(browser.go_to_telegram("legacy"), alice.id)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FOREIGN_BOT_TOKEN)
    secrets.reset_cache()
    with pytest.raises(secrets.ForeignBotToken):
        browser.finish_legacy(handoff)


def test_allauth_apps_carry_no_secret(rf, settings):
    from allauth.socialaccount.adapter import get_adapter

    apps = get_adapter().list_apps(rf.get("/"))
    assert sorted(a.provider_id for a in apps) == ["telegram", "telegram-oidc"]
    assert all(a.secret == "" and a.client_id == str(settings.TELEGRAM_BOT_ID) for a in apps)
    assert not secrets.is_loaded()
