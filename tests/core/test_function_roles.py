"""The webhook and sender functions start without allauth's sign-in providers (cold start)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def started_modules(role: str | None) -> str:
    code = (
        "import os, sys, django; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; django.setup();"
        "from django.apps import apps;"
        "print(apps.is_installed('allauth.socialaccount.providers.telegram'), 'requests' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FUNCTION_ROLE", "DJANGO_SETTINGS_MODULE")}
    env["STAGE"] = "local"
    if role:
        env["FUNCTION_ROLE"] = role
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_site_offers_the_sign_in_providers():
    assert started_modules(None) == "True True"


@pytest.mark.parametrize("role", ["webhook", "sender"])
def test_the_webhook_and_sender_start_without_them(role):
    assert started_modules(role) == "False False"


def test_an_unknown_role_is_refused():
    code = "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; django.setup()"
    env = {**os.environ, "STAGE": "local", "FUNCTION_ROLE": "worker"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "FUNCTION_ROLE must be one of site, webhook, sender" in result.stderr


@pytest.mark.django_db
def test_a_process_that_set_django_up_keeps_its_role_after_calling_the_handlers(monkeypatch):
    """The handlers name their role only when they set Django up themselves: a process that
    already had (the tests, `make dev`'s parent) would otherwise hand the webhook's role to
    every child it starts later, and a site command there would reverse through the
    webhook's URLconf (CI saw `manage.py setup_webhook` fail on the Mini App's URL)."""
    import handlers.sender
    import handlers.webhook

    monkeypatch.delenv("FUNCTION_ROLE", raising=False)
    handlers.webhook.handler({"headers": {}, "body": "{}", "requestContext": {"http": {"method": "POST"}}}, None)
    handlers.sender.handler({"Records": []}, None)
    assert "FUNCTION_ROLE" not in os.environ
