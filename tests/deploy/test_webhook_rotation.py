"""
rotate_webhook_secret, end to end: Telegram (the sandbox) keeps delivering what a person
types to the real webhook handler (behind the local gateway) while the secret changes, and
no delivery is refused on the way.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from .conftest import read_secret, read_secrets, write_secrets

USER = 424242


def refused(sandbox) -> list:
    return [a for a in sandbox.webhook_deliveries() if a.status_code in (401, 403)]


@pytest.fixture
def registered(aws, sandbox, full_secret, stage_secret, gateway, lambda_functions):
    from project.bot.flows.webhook_setup import register_webhook

    register_webhook()
    sandbox.add_user(USER, first_name="Rita")
    return full_secret


def stored_update_ids() -> set[int]:
    from project.bot.models import StoredUpdate

    return set(StoredUpdate.objects.values_list("update_id", flat=True))


def test_rotation_loses_and_refuses_nothing(aws, sandbox, registered, stage_secret):
    from project.ops.flows.webhook_rotation import rotate_webhook_secret

    old = registered["telegram_webhook_secret"]
    sent = [sandbox.user_sends(USER, "before")["update_id"]]
    sandbox.wait_for_delivery()
    phases = []

    def during(step):
        if step == "draining":
            return
        phases.append(step)
        sent.append(sandbox.user_sends(USER, f"during {step}")["update_id"])
        sandbox.wait_for_delivery(timeout=10)  # raises if the webhook keeps refusing them

    result = rotate_webhook_secret(grace=0.2, drain_timeout=10, on_step=during)

    assert phases == ["written", "refreshed", "registered", "finished"]
    assert result.drained and result.containers_refreshed
    values = read_secret(aws, stage_secret)
    new = values["telegram_webhook_secret"]
    assert new != old and "telegram_webhook_secret_previous" not in values
    # The webhook secrets live in the stage secret; the bot token's secret is not touched.
    assert "telegram_bot_token" not in values
    versions = aws.client("secretsmanager").list_secret_version_ids(SecretId=stage_secret.bot_token_name)["Versions"]
    assert len(versions) == 1
    assert sandbox.bot().webhook.secret_token == new
    assert refused(sandbox) == []
    assert set(sent) <= stored_update_ids()
    # The webhook function was made to start new containers (which read the secret again).
    env = aws.client("lambda").get_function_configuration(FunctionName="meetups-test-webhook")["Environment"]["Variables"]
    assert env["STAGE_SECRET_VERSION"]
    assert env["STAGE"] == "test"  # the rest of its configuration untouched
    # And the old secret is no longer accepted.
    from handlers.webhook import handler

    from tests.bot.conftest import webhook_event

    assert handler(webhook_event({"update_id": 1}, secret=old), None)["statusCode"] == 401


def test_the_order_matters_setwebhook_first_gets_deliveries_refused(aws, sandbox, registered):
    """The control for the test above: telling Telegram first is what the rotation avoids."""
    from project.bot.flows.webhook_setup import register_webhook
    from project.ops.flows.stage_secret import new_webhook_secret

    register_webhook(secret=new_webhook_secret())
    sandbox.user_sends(USER, "hello")
    with pytest.raises(TimeoutError):
        sandbox.wait_for_delivery(timeout=1)
    assert refused(sandbox)


def test_an_unfinished_rotation_must_be_finished_first(aws, sandbox, registered, stage_secret):
    old = registered["telegram_webhook_secret"]
    # A rotation that stopped after writing the new secret, before telling Telegram.
    write_secrets(aws, stage_secret, {**registered, "telegram_webhook_secret": "new-secret-never-registered",
                                       "telegram_webhook_secret_previous": old})
    with pytest.raises(CommandError, match="--finish"):
        call_command("rotate_webhook_secret", grace=0.1, drain_timeout=5, stdout=io.StringIO())

    sent = sandbox.user_sends(USER, "while half rotated")["update_id"]
    sandbox.wait_for_delivery(timeout=10)  # Telegram still sends the old one: accepted
    out = io.StringIO()
    call_command("rotate_webhook_secret", finish=True, grace=0.1, drain_timeout=5, stdout=out)
    assert "finishing" in out.getvalue()
    values = read_secret(aws, stage_secret)
    assert values["telegram_webhook_secret"] == "new-secret-never-registered"
    assert "telegram_webhook_secret_previous" not in values
    assert sandbox.bot().webhook.secret_token == "new-secret-never-registered"
    sandbox.user_sends(USER, "after")
    sandbox.wait_for_delivery(timeout=10)
    assert refused(sandbox) == []
    assert sent in stored_update_ids()


def test_finish_without_a_rotation_changes_nothing(aws, sandbox, registered, stage_secret):
    out = io.StringIO()
    call_command("rotate_webhook_secret", finish=True, stdout=out)
    assert "no rotation to finish" in out.getvalue() and "Done." in out.getvalue()
    assert read_secrets(aws, stage_secret) == registered
    assert [r.method for r in sandbox.record() if r.method == "setWebhook"] == ["setWebhook"]  # the fixture's only


def test_finish_refreshes_the_webhooks_containers_before_setwebhook(aws, sandbox, registered, stage_secret):
    """Issue 11 item 4. A rotation stopped after writing the new secret, before refreshing the
    webhook function: its warm containers hold only the old secret. `--finish` must make Lambda
    start new containers (UpdateFunctionConfiguration) before setWebhook, or Telegram's next
    deliveries, with the new secret, meet containers that refuse them.

    Lambda's side, as far as a secret goes: a container keeps the secret it read until the
    function's configuration changes. The gateway here is one warm container (its process's
    secret cache); an UpdateFunctionConfiguration of the webhook function, seen through
    botocore's event hooks on the commands' Lambda client, empties that cache, as new
    containers would read the secret afresh. Each call is recorded with how many setWebhook
    calls the sandbox had seen by then, which gives the order across moto and Telegram."""
    from project.core import secrets
    from project.core.aws import client
    from project.ops.flows.webhook_rotation import rotate_webhook_secret

    old = registered["telegram_webhook_secret"]
    sandbox.user_sends(USER, "warming the container")
    sandbox.wait_for_delivery(timeout=10)
    assert secrets.webhook_secrets() == [old]  # the warm container's view
    # The interrupted rotation wrote the secret from the operator's machine: the running
    # container's cache is not touched by that.
    aws.client("secretsmanager").put_secret_value(SecretId=stage_secret, SecretString=json.dumps(
        {**registered, "telegram_webhook_secret": "new-secret-written-before-the-stop",
         "telegram_webhook_secret_previous": old}))

    def set_webhooks() -> list[str]:
        return [r.params.get("secret_token", "") for r in sandbox.record() if r.method == "setWebhook"]

    calls = []

    def on_lambda_call(model, params, **_):
        if model.name == "UpdateFunctionConfiguration" and params["FunctionName"] == "meetups-test-webhook":
            calls.append(("refresh", list(set_webhooks())))
            secrets.reset_cache()  # new containers read the secret again

    client("lambda").meta.events.register("before-parameter-build.lambda.UpdateFunctionConfiguration", on_lambda_call)
    sent = []

    def during(step):
        if step == "registered":  # Telegram now sends the new secret
            sent.append(sandbox.user_sends(USER, "right after setWebhook")["update_id"])
            sandbox.wait_for_delivery(timeout=10)  # raises if the webhook keeps refusing it

    try:
        result = rotate_webhook_secret(finish_only=True, grace=0.2, drain_timeout=10, on_step=during)
    finally:
        client("lambda").meta.events.unregister("before-parameter-build.lambda.UpdateFunctionConfiguration", on_lambda_call)

    # Refreshed while Telegram still had only the old secret (the fixture's setWebhook), then
    # setWebhook with the new one, then refreshed again once the previous secret was removed.
    assert calls[0] == ("refresh", [old])
    assert set_webhooks() == [old, "new-secret-written-before-the-stop"]
    assert calls[1:] == [("refresh", [old, "new-secret-written-before-the-stop"])]
    assert result.containers_refreshed and result.drained
    assert refused(sandbox) == []
    assert set(sent) <= stored_update_ids()
    assert "telegram_webhook_secret_previous" not in read_secret(aws, stage_secret)
