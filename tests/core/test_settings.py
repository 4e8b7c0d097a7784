"""Per-stage start-up: a deployed stage missing a required value refuses to start and names it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEPLOYED_ENV = {
    "STAGE": "dev",
    "DJANGO_SECRET_KEY": "x" * 50,
    "SITE_DOMAIN": "dev.example.org",
    "DATABASE_URL": "postgres://u@127.0.0.1:5432/x",
    "OUTBOX_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/outbox-dev",
    "SECRETS_NAME": "site/dev",
    "TELEGRAM_BOT_ID": "7000000001",
    "TELEGRAM_BOT_USERNAME": "site_dev_bot",
}


SHOW_SETTINGS = (
    "print(s.STAGE, s.DEBUG, s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.SECURE_PROXY_SSL_HEADER,"
    " s.SESSION_ENGINE, s.CACHES['default']['BACKEND'])"
)


def load_settings(env: dict, show: str = SHOW_SETTINGS) -> subprocess.CompletedProcess:
    """Set Django up in a fresh interpreter with exactly this stage environment; `show` prints from `s`."""
    clean = {k: v for k, v in os.environ.items() if k not in DEPLOYED_ENV and not k.startswith("TELEGRAM_")}
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; django.setup();"
        "from django.conf import settings as s;" + show
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_a_complete_deployed_stage_starts_with_production_settings():
    result = load_settings(DEPLOYED_ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("dev False ['dev.example.org']")
    assert "https://dev.example.org" in out
    assert "('HTTP_X_FORWARDED_PROTO', 'https')" in out
    assert "django.contrib.sessions.backends.db" in out
    assert "DatabaseCache" in out  # allauth's rate limits hold across Lambda containers


@pytest.mark.parametrize("missing", ["SITE_DOMAIN", "OUTBOX_QUEUE_URL", "TELEGRAM_BOT_ID", "SECRETS_NAME"])
def test_a_deployed_stage_missing_a_value_refuses_to_start_and_names_it(missing):
    env = {**DEPLOYED_ENV}
    del env[missing]
    result = load_settings(env)
    assert result.returncode != 0
    assert f"STAGE=dev needs the environment variable {missing}" in result.stderr


def test_a_deployed_stage_without_a_secret_key_anywhere_refuses_to_start():
    env = {**DEPLOYED_ENV, "SECRETS_BACKEND": "env"}
    del env["DJANGO_SECRET_KEY"]
    result = load_settings(env)
    assert result.returncode != 0
    assert "django_secret_key" in result.stderr


def test_an_unknown_stage_is_refused():
    result = load_settings({"STAGE": "staging"})
    assert result.returncode != 0
    assert "STAGE must be one of local, test, dev, prod" in result.stderr


def test_local_stage_is_the_default_and_the_only_one_with_debug():
    result = load_settings({})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("local True")


def test_a_deployed_stage_without_a_database_anywhere_refuses_to_start():
    env = {**DEPLOYED_ENV, "SECRETS_BACKEND": "env"}
    del env["DATABASE_URL"]
    result = load_settings(env)
    assert result.returncode != 0
    assert "STAGE=dev needs DATABASE_URL, or database_url in the stage secret" in result.stderr


def test_a_deployed_stage_takes_its_database_url_and_django_key_from_the_stage_secret(aws):
    """The database password stays out of Lambda's environment and zappa_settings.json."""
    aws.put_secret(
        database_url="postgres://app:pw-from-secret@db.internal:5432/site",
        django_secret_key="k" * 50,
        telegram_webhook_secret="w" * 32,
    )
    env = {**DEPLOYED_ENV, "SECRETS_NAME": aws.secret_name, "AWS_ENDPOINT_URL": aws.endpoint}
    del env["DATABASE_URL"], env["DJANGO_SECRET_KEY"]
    result = load_settings(
        env, show="db = s.DATABASES['default']; print(db['HOST'], db['NAME'], s.SECRET_KEY == 'k' * 50)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db.internal", "site", "True"]
