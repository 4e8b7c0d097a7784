"""
put_bot_token and put_stage_secret against moto's Secrets Manager and the Telegram sandbox:
the token goes into the bot-token secret only, everything else into the stage secret.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from .conftest import FOREIGN_BOT_TOKEN, read_secret, read_secrets, versions, write_secret, write_secrets

LOCAL_TOKEN = "7000000001:AAH-local-sandbox-token-not-a-secret-0001"


class FakeStdin(io.StringIO):
    def isatty(self):
        return False


def put_token(token: str) -> str:
    out = io.StringIO()
    call_command("put_bot_token", stdin=FakeStdin(token + "\n"), stdout=out)
    return out.getvalue()


def test_put_bot_token_fills_an_empty_stage_secret(aws, sandbox, stage_secret):
    output = put_token(LOCAL_TOKEN)

    assert read_secret(aws, stage_secret.bot_token_name) == {"telegram_bot_token": LOCAL_TOKEN}
    values = read_secret(aws, stage_secret)
    assert "telegram_bot_token" not in values  # the webhook function reads this one
    assert len(values["telegram_webhook_secret"]) >= 32
    assert set(values["telegram_webhook_secret"]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert len(values["django_secret_key"]) >= 50
    assert "@site_local_bot (7000000001)" in output
    assert "written to the bot-token secret 'meetups/test/bot-token'" in output
    assert "Generated telegram_webhook_secret in the stage secret 'meetups/test'" in output
    assert 'zappa manage test_site "check --deploy --tag telegram" -s var/stages/test/zappa_settings.json' in output
    assert "Next (docs/DEPLOY.md): put_stage_secret telegram_oidc_client_secret" in output
    for value in [*values.values(), LOCAL_TOKEN]:
        assert value not in output
    # The functions read it back through project.core.secrets.
    from project.core import secrets

    secrets.reset_cache()
    assert secrets.bot_token() == LOCAL_TOKEN
    assert [r.method for r in sandbox.record()] == ["getMe"]


STAGE_VALUES = {
    "telegram_webhook_secret": "kept-webhook-secret-value", "django_secret_key": "kept-django-key-value",
    "telegram_oidc_client_secret": "kept-oidc-value", "database_url": "postgres://u:p@db/x",
}


def test_put_bot_token_writes_only_the_token_secret(aws, sandbox, stage_secret):
    """A stage secret that has its keys is not touched: no new version, the token not in it."""
    write_secret(aws, stage_secret, STAGE_VALUES)
    stage_versions = versions(aws, stage_secret)

    output = put_token(LOCAL_TOKEN)

    assert read_secret(aws, stage_secret.bot_token_name) == {"telegram_bot_token": LOCAL_TOKEN}
    assert read_secret(aws, stage_secret) == STAGE_VALUES
    assert versions(aws, stage_secret) == stage_versions
    assert "Generated" not in output
    assert "written to" in output
    assert "already in" in put_token(LOCAL_TOKEN)
    assert len(versions(aws, stage_secret.bot_token_name)) == 1  # the same token again: no new version


def test_put_bot_token_moves_a_token_left_in_the_stage_secret(aws, sandbox, stage_secret):
    """The layout before the split kept the token in the stage secret, readable by the webhook."""
    write_secret(aws, stage_secret, {**STAGE_VALUES, "telegram_bot_token": LOCAL_TOKEN})
    output = put_token(LOCAL_TOKEN)
    assert read_secret(aws, stage_secret) == STAGE_VALUES
    assert read_secret(aws, stage_secret.bot_token_name) == {"telegram_bot_token": LOCAL_TOKEN}
    assert "Removed telegram_bot_token from the stage secret" in output


def test_put_bot_token_without_the_token_secret_writes_nothing(aws, sandbox, stage_secret):
    """A stack from before the split has no bot-token secret: say so, and leave both alone."""
    aws.client("secretsmanager").delete_secret(SecretId=stage_secret.bot_token_name, ForceDeleteWithoutRecovery=True)
    with pytest.raises(CommandError) as refused:
        put_token(LOCAL_TOKEN)
    assert "bot-token secret 'meetups/test/bot-token' does not exist" in str(refused.value)
    assert "BOT_TOKEN_SECRET_NAME" in str(refused.value)
    assert versions(aws, stage_secret) == []


def test_a_dev_stage_refuses_the_prod_token(aws, sandbox, stage_secret, settings):
    """The foreign bot plays the other stage's bot: its token is refused before any write."""
    settings.TELEGRAM_BOT_ID = 7000000001
    with pytest.raises(CommandError) as refused:
        put_token(FOREIGN_BOT_TOKEN)
    message = str(refused.value)
    assert "7000000002" in message and "7000000001" in message
    assert FOREIGN_BOT_TOKEN not in message
    # Nothing was written, and Telegram was not even asked.
    assert versions(aws, stage_secret) == [] and versions(aws, stage_secret.bot_token_name) == []
    assert sandbox.record() == []


def test_a_token_telegram_does_not_know_is_refused(aws, sandbox, stage_secret):
    revoked = "7000000001:AAH-revoked-or-mistyped-token-000000000000"
    with pytest.raises(CommandError, match="does not accept this token"):
        put_token(revoked)
    assert versions(aws, stage_secret) == [] and versions(aws, stage_secret.bot_token_name) == []


def test_a_token_of_a_bot_with_another_username_is_refused(aws, sandbox, stage_secret, settings):
    settings.TELEGRAM_BOT_USERNAME = "meetups_dev_bot"
    with pytest.raises(CommandError, match="@site_local_bot.*@meetups_dev_bot"):
        put_token(LOCAL_TOKEN)


def test_put_bot_token_needs_the_aws_backend(settings, sandbox):
    settings.SECRETS_BACKEND = "env"
    with pytest.raises(CommandError, match="SECRETS_BACKEND=env"):
        put_token(LOCAL_TOKEN)


def test_put_bot_token_takes_no_token_argument():
    # argv lands in shell history and process lists: there is no way to pass it there.
    with pytest.raises(CommandError):
        call_command("put_bot_token", LOCAL_TOKEN)


def test_put_stage_secret_writes_one_key(aws, stage_secret):
    write_secrets(aws, stage_secret, {"telegram_bot_token": LOCAL_TOKEN, "telegram_webhook_secret": "w" * 40})
    out = io.StringIO()
    call_command("put_stage_secret", "database_url", stdin=FakeStdin("postgres://app:pw@db.example/app?sslmode=require\n"),
                 stdout=out)
    assert read_secret(aws, stage_secret) == {
        "telegram_webhook_secret": "w" * 40, "database_url": "postgres://app:pw@db.example/app?sslmode=require"}
    assert read_secret(aws, stage_secret.bot_token_name) == {"telegram_bot_token": LOCAL_TOKEN}
    assert len(versions(aws, stage_secret.bot_token_name)) == 1
    assert "pw@" not in out.getvalue()
    assert "database_url written to the stage secret 'meetups/test'" in out.getvalue()


def test_put_stage_secret_refuses_the_bot_token_and_points_at_put_bot_token(aws, stage_secret):
    with pytest.raises(CommandError, match="use put_bot_token"):
        call_command("put_stage_secret", "telegram_bot_token", stdin=FakeStdin(FOREIGN_BOT_TOKEN + "\n"))
    with pytest.raises(CommandError, match="not a key of the stage secret"):
        call_command("put_stage_secret", "database_password", stdin=FakeStdin("x\n"))
    assert versions(aws, stage_secret) == [] and versions(aws, stage_secret.bot_token_name) == []


@pytest.mark.parametrize("url, reason", [
    ("sqlite:////tmp/db.sqlite3", "cannot use SQLite"),
    ("not a url with s3cret-password", "not a database URL"),
])
def test_put_stage_secret_refuses_a_database_url_lambda_cannot_use(aws, stage_secret, url, reason):
    with pytest.raises(CommandError, match=reason) as refused:
        call_command("put_stage_secret", "database_url", stdin=FakeStdin(url + "\n"))
    assert "s3cret" not in str(refused.value)
    assert versions(aws, stage_secret) == []


def test_the_functions_read_what_the_commands_wrote(aws, sandbox, stage_secret):
    """Through project.core.secrets, each value from its own secret."""
    from project.core import secrets

    put_token(LOCAL_TOKEN)
    call_command("put_stage_secret", "database_url", stdin=FakeStdin("postgres://app:pw@db.example/app\n"),
                 stdout=io.StringIO())
    secrets.reset_cache()
    assert secrets.bot_token() == LOCAL_TOKEN
    assert secrets.get_secret("database_url") == "postgres://app:pw@db.example/app"
    assert secrets.webhook_secrets() == [read_secrets(aws, stage_secret)["telegram_webhook_secret"]]
