"""
Writing the stage's two secrets (Secrets Manager), the one place that does.

IAM grants a whole secret or nothing, so the bot token has a secret of its own, which the
webhook function's role may not read (project/core/secrets.py, infra/aws/stack.yaml):

  SECRETS_NAME            telegram_webhook_secret(_previous), telegram_oidc_client_secret,
                          django_secret_key, database_url; every function reads it
  BOT_TOKEN_SECRET_NAME   telegram_bot_token alone; only the site and the sender read it

Everything else reads them through project.core.secrets, once per container, cached. The
operator commands write them here: each key goes to the secret project.core.secrets says
holds it (SECRET_OF_KEY); for each secret touched, read the whole JSON object, change the
keys, write it back as a new version. Keys this code does not know are kept as they are, so
an older checkout never drops a value a newer one put there.

The CloudFormation stack creates both secrets empty (no version at all), so the first write
starts from an empty object. Values are never logged or printed: only key and secret names.
"""

from __future__ import annotations

import json
import secrets as random_secrets
from dataclasses import dataclass

from django.conf import settings

from project.core import secrets as stage_secrets
from project.core.logging import register_secret_values
from project.ops.errors import OpsError, WrongSecretsBackend

STAGE_SECRET = "SECRETS_NAME"
BOT_TOKEN_SECRET = "BOT_TOKEN_SECRET_NAME"
# Every key of either secret; database_url keeps DATABASE_URL (which carries the database
# password) out of Lambda's environment (see docs/DEPLOY.md, "The database").
WRITABLE_KEYS = stage_secrets.KEYS
# How the operator's messages call each secret (with its name beside it).
LABELS = {STAGE_SECRET: "stage secret", BOT_TOKEN_SECRET: "bot-token secret"}


@dataclass
class SecretState:
    setting: str
    name: str
    exists: bool
    has_value: bool
    values: dict[str, str]

    @property
    def label(self) -> str:
        return f"{LABELS[self.setting]} {self.name!r}"

    @property
    def misplaced(self) -> list[str]:
        """Keys this secret holds that belong in the other one (e.g. a bot token left in the
        stage secret from before the split, where the webhook function can read it)."""
        return sorted(k for k in self.values if stage_secrets.SECRET_OF_KEY.get(k, self.setting) != self.setting)


def secret_name(setting: str = STAGE_SECRET) -> str:
    return stage_secrets.secret_name(setting)


def secret_of(key: str) -> str:
    """The setting naming the secret that holds `key` (SECRETS_NAME or BOT_TOKEN_SECRET_NAME)."""
    try:
        return stage_secrets.SECRET_OF_KEY[key]
    except KeyError:
        raise OpsError(f"{key!r} is not a key of the stage's secrets ({', '.join(WRITABLE_KEYS)}).") from None


def _client():
    from project.core.aws import client

    return client("secretsmanager")


def require_aws_backend() -> None:
    if getattr(settings, "SECRETS_BACKEND", "env") != "aws":
        raise WrongSecretsBackend(
            f"This stage ({settings.STAGE}) reads its secrets from the environment "
            f"(SECRETS_BACKEND={settings.SECRETS_BACKEND}); there is no stage secret to write. "
            "Run this with the deployed stage's environment (see docs/DEPLOY.md)."
        )


def read(setting: str = STAGE_SECRET) -> SecretState:
    """One secret as stored (for writing back); registers its values for redaction."""
    require_aws_backend()
    name = secret_name(setting)
    label = f"{LABELS[setting]} {name!r}"
    sm = _client()
    try:
        answer = sm.get_secret_value(SecretId=name)
    except sm.exceptions.ResourceNotFoundException:
        # Either no such secret, or a secret without any version yet (as the stack makes it).
        try:
            sm.describe_secret(SecretId=name)
        except sm.exceptions.ResourceNotFoundException:
            return SecretState(setting, name, exists=False, has_value=False, values={})
        return SecretState(setting, name, exists=True, has_value=False, values={})
    try:
        values = json.loads(answer.get("SecretString") or "{}")
    except ValueError:
        raise OpsError(f"The {label} is not JSON; fix or delete its current version.") from None
    if not isinstance(values, dict):
        raise OpsError(f"The {label} is not a JSON object.")
    values = {str(k): str(v) for k, v in values.items() if v is not None}
    register_secret_values(values.values())
    return SecretState(setting, name, exists=True, has_value=True, values=values)


def read_all() -> dict[str, SecretState]:
    """Both secrets, by setting."""
    return {setting: read(setting) for setting in stage_secrets.SECRET_KEYS}


def _missing(state: SecretState) -> OpsError:
    return OpsError(
        f"The {state.label} does not exist in {settings.AWS_REGION}. Deploy the stage's stack first "
        f"(infra/aws/stack.yaml creates both secrets), or check {state.setting} and AWS_REGION."
    )


def update(
    set_values: dict[str, str] | None = None,
    remove: tuple[str, ...] | list[str] = (),
    *,
    remove_misplaced_from: tuple[str, ...] = (),
) -> list[str]:
    """Set and remove keys, each in the secret that holds it: one new version per secret
    that changes. Returns the changed keys. `remove_misplaced_from` also drops, from those
    secrets, keys that belong in the other one.

    Every secret involved is read (and must exist) before anything is written, so a missing
    secret stops the command with nothing half written."""
    set_values = dict(set_values or {})
    by_secret: dict[str, tuple[dict[str, str], list[str]]] = {}
    for key, value in set_values.items():
        by_secret.setdefault(secret_of(key), ({}, []))[0][key] = value
    for key in remove:
        by_secret.setdefault(secret_of(key), ({}, []))[1].append(key)
    for setting in remove_misplaced_from:
        by_secret.setdefault(setting, ({}, []))
    register_secret_values(v for v in set_values.values() if v)

    states = {setting: read(setting) for setting in stage_secrets.SECRET_KEYS if setting in by_secret}
    for state in states.values():
        if not state.exists:
            raise _missing(state)

    changed: list[str] = []
    for setting, state in states.items():  # the stage secret first, then the bot token's
        to_set, to_remove = by_secret[setting]
        if setting in remove_misplaced_from:
            to_remove = [*to_remove, *state.misplaced]
        values = dict(state.values)
        secret_changed = [k for k, v in to_set.items() if values.get(k) != v]
        values.update(to_set)
        for key in to_remove:
            if key in values:
                values.pop(key)
                secret_changed.append(key)
        if secret_changed:
            _client().put_secret_value(SecretId=state.name, SecretString=json.dumps(values, sort_keys=True))
            changed += secret_changed
    # This process reads the new values from now on (the webhook flows rely on it).
    stage_secrets.reset_cache()
    return changed


def new_webhook_secret() -> str:
    """A secret_token as setWebhook allows it: 1-256 characters of A-Z a-z 0-9 _ -."""
    return random_secrets.token_urlsafe(48)  # 64 characters from exactly that alphabet


def new_django_secret_key() -> str:
    return random_secrets.token_urlsafe(50)


def current_version_id(setting: str = STAGE_SECRET) -> str:
    """The AWSCURRENT version's id (names a rotation in the functions' configuration)."""
    answer = _client().describe_secret(SecretId=secret_name(setting))
    for version, stages in (answer.get("VersionIdsToStages") or {}).items():
        if "AWSCURRENT" in stages:
            return version
    return ""
