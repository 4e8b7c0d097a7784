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
