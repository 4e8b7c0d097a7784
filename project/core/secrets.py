"""
The stage's secrets: the bot token, the webhook secret, the OIDC client secret, the Django
key and the database URL (which carries the database password).

Deployed stages keep them in Secrets Manager as JSON objects, read once per container on
first use and cached, so neither a cold start that does not need them nor a warm invocation
pays for the call. There are two secrets, because IAM grants a whole secret or nothing:

  SECRETS_NAME            everything but the bot token; every function reads it
  BOT_TOKEN_SECRET_NAME   the bot token alone; only the site (which checks Telegram's
                          sign-in signatures with it) and the sender may read it, so the
                          webhook function cannot hold the token even by mistake

Local and test stages read the same keys from the environment (TELEGRAM_BOT_TOKEN, ...)
with the sandbox's non-secret defaults.

A bot token is checked against the stage's TELEGRAM_BOT_ID when it is read: running the dev
stage with the prod bot's token (or the reverse) stops here, before anything is sent.
"""

from __future__ import annotations

import json
import logging
import os
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# Which secret holds which key: the settings naming the secret, and its keys.
SECRET_KEYS = {
    "SECRETS_NAME": (
        "telegram_webhook_secret",
        "telegram_webhook_secret_previous",
        "telegram_oidc_client_secret",
        "django_secret_key",
        "database_url",
    ),
    "BOT_TOKEN_SECRET_NAME": ("telegram_bot_token",),
}
KEYS = tuple(key for keys in SECRET_KEYS.values() for key in keys)
SECRET_OF_KEY = {key: setting for setting, keys in SECRET_KEYS.items() for key in keys}

# Values already read, per secret (the setting that names it); empty until first use.
_cache: dict[str, dict[str, str]] = {}
_lock = threading.Lock()


class SecretUnavailable(ImproperlyConfigured):
    """The stage's secret could not be read, or lacks a key the caller needs."""


class ForeignBotToken(ImproperlyConfigured):
    """The bot token belongs to another bot than the one configured for this stage."""


def _settings_value(name: str, default):
    # settings.py itself asks for the Django key while it is being evaluated; touching
    # django.conf.settings then would configure Django with a half-read module.
    if settings.configured:
        return getattr(settings, name, default)
    return os.environ.get(name, default)


def _load_from_env(keys: tuple[str, ...]) -> dict[str, str]:
    local = _settings_value("LOCAL_SECRETS", {}) or {}
    return {key: os.environ.get(key.upper(), local.get(key, "")) for key in keys}


def secret_name(setting: str) -> str:
    """The Secrets Manager name held by SECRETS_NAME or BOT_TOKEN_SECRET_NAME."""
    name = _settings_value(setting, "")
    if not name and setting == "BOT_TOKEN_SECRET_NAME":
        name = f"{_settings_value('SECRETS_NAME', '')}/bot-token"
    return name


def _load_from_secrets_manager(setting: str, keys: tuple[str, ...]) -> dict[str, str]:
    from project.core.aws import client

    name = secret_name(setting)
    try:
        answer = client("secretsmanager").get_secret_value(SecretId=name)
    except Exception as exc:  # botocore's errors carry no secret values
        raise SecretUnavailable(f"Cannot read the stage secret {name!r}: {exc}") from None
    try:
        values = json.loads(answer.get("SecretString") or "{}")
    except ValueError:
        raise SecretUnavailable(f"The stage secret {name!r} is not a JSON object.") from None
    if not isinstance(values, dict):
        raise SecretUnavailable(f"The stage secret {name!r} is not a JSON object.")
    return {key: str(values.get(key) or "") for key in keys}


def _load(setting: str) -> dict[str, str]:
    values = _cache.get(setting)
    if values is None:
        with _lock:
            values = _cache.get(setting)
            if values is None:
                keys = SECRET_KEYS[setting]
                backend = _settings_value("SECRETS_BACKEND", "")
                if not backend:  # settings.py still loading: its default, by stage
                    backend = "aws" if os.environ.get("STAGE") in ("dev", "prod") else "env"
                values = _load_from_secrets_manager(setting, keys) if backend == "aws" else _load_from_env(keys)
                from project.core.logging import register_secret_values

                register_secret_values(v for v in values.values() if v)
                _cache[setting] = values
    return values


def is_loaded() -> bool:
    """Whether this process has read any secret yet (start-up must not, unless it needs one)."""
    return bool(_cache)


def get_secret(key: str, *, required: bool = True) -> str:
    """One value of the stage's secrets; a required one that is empty raises SecretUnavailable."""
    if key not in KEYS:
        raise KeyError(key)
    value = _load(SECRET_OF_KEY[key]).get(key, "")
    if required and not value:
        raise SecretUnavailable(f"The stage secret has no value for {key!r}.")
    return value


def check_bot_token(token: str, bot_id: int | None = None) -> str:
    """Return the token if it belongs to the stage's bot; raise ForeignBotToken otherwise."""
    expected = bot_id if bot_id is not None else _settings_value("TELEGRAM_BOT_ID", None)
    token_bot_id = token.split(":", 1)[0]
    if not token_bot_id.isdigit() or int(token_bot_id) != int(expected):
        raise ForeignBotToken(
            f"The bot token is for bot {token_bot_id if token_bot_id.isdigit() else '(malformed)'}, "
            f"but this stage ({_settings_value('STAGE', '?')}) is configured for bot {expected}. "
            "Put this stage's own bot token into its secret."
        )
    return token


def bot_token() -> str:
    """The stage's bot token, checked against TELEGRAM_BOT_ID."""
    return check_bot_token(get_secret("telegram_bot_token"))


def webhook_secrets() -> list[str]:
    """The webhook secrets accepted now: the current one, and the previous during a rotation."""
    values = [get_secret("telegram_webhook_secret")]
    previous = get_secret("telegram_webhook_secret_previous", required=False)
    if previous:
        values.append(previous)
    return values


def reset_cache() -> None:
    """Forget the cached values (tests, and the rotation command after it writes)."""
    with _lock:
        _cache.clear()
