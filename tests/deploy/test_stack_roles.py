"""
infra/aws/stack.yaml's roles, one per function: each may do exactly what its function needs
(read from the deployed stack in moto, and from the template for the secret patterns), none
may create its own log group, and only the site and the sender may read the bot token.
tests/deploy/test_manage_role.py tries the manage role's calls with IAM enforced.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from . import zappa_stages
from .test_stack import ACCOUNT, _allowed, _client, _deploy, _policy, _resolve, moto, template  # noqa: F401  (moto: the fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")


def test_each_role_may_do_only_what_its_function_needs(moto):
    outputs = _deploy("dev")
    queue, dlq = outputs["OutboxQueueArn"], outputs["OutboxDeadLetterQueueArn"]
    secret_arn = _client("secretsmanager").describe_secret(SecretId=outputs["SecretName"])["ARN"]
    token_arn = _client("secretsmanager").describe_secret(SecretId=outputs["BotTokenSecretName"])["ARN"]
    other_secret = _client("secretsmanager").create_secret(Name="meetups/prod")["ARN"]
    other_token = _client("secretsmanager").create_secret(Name="meetups/prod/bot-token")["ARN"]

    policies = {kind: _policy(f"meetups-dev-{kind}") for kind in zappa_stages.KINDS}
    consume = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
    for kind, statements in policies.items():
        assert _allowed(statements, "secretsmanager:GetSecretValue", secret_arn), kind
        assert not _allowed(statements, "secretsmanager:GetSecretValue", other_secret), kind
        assert not _allowed(statements, "secretsmanager:GetSecretValue", other_token), kind
        assert not _allowed(statements, "secretsmanager:PutSecretValue", token_arn), kind
        assert not _allowed(statements, "sqs:SendMessage", dlq), kind
        assert not _allowed(statements, "sqs:PurgeQueue", queue), kind
        assert not _allowed(statements, "lambda:UpdateFunctionConfiguration", "*"), kind
        assert _allowed(statements, "logs:PutLogEvents",
                        f"arn:aws:logs:eu-central-1:{ACCOUNT}:log-group:/aws/lambda/meetups-dev-{kind}:log-stream:x")
        assert not _allowed(statements, "logs:PutLogEvents",
                            f"arn:aws:logs:eu-central-1:{ACCOUNT}:log-group:/aws/lambda/meetups-prod-{kind}:log-stream:x")
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), (kind, actions)
    # Only the manage function writes the stage secret (create_database's database_url).
    for kind in ("site", "webhook", "sender"):
        assert not _allowed(policies[kind], "secretsmanager:PutSecretValue", secret_arn), kind
    assert _allowed(policies["manage"], "secretsmanager:PutSecretValue", secret_arn)
    # The bot token: the site (sign-in signatures) and the sender; never the webhook or manage.
    for kind in ("webhook", "manage"):
        assert not _allowed(policies[kind], "secretsmanager:GetSecretValue", token_arn), kind
    for kind in ("site", "sender"):
        assert _allowed(policies[kind], "secretsmanager:GetSecretValue", token_arn), kind
    for kind in ("site", "webhook"):
        assert _allowed(policies[kind], "sqs:SendMessage", queue)
        for action in consume:
            assert not _allowed(policies[kind], action, queue), (kind, action)
    for action in [*consume, "sqs:GetQueueAttributes"]:
        assert _allowed(policies["sender"], action, queue), action
    # The sender re-queues (its own rate-limit waits, the 403 -> email fallback): issue 10 fix 5.
    assert _allowed(policies["sender"], "sqs:SendMessage", queue)
    # The manage function replays dead letters and retries updates (it reaches the private
    # database): the dead letters' consumer side, and enqueueing to the outbox, nothing more.
    for action in consume:
        assert _allowed(policies["manage"], action, dlq), action
        assert not _allowed(policies["manage"], action, queue), action
    assert _allowed(policies["manage"], "sqs:SendMessage", queue)
    sqs_grants = {(a, json.dumps(s["Resource"])) for s in policies["manage"]
                  for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]) if a.startswith("sqs:")}
    assert {a for a, _ in sqs_grants} == {*consume, "sqs:SendMessage"}
    for kind in ("site", "webhook", "sender"):
        assert not any(_allowed(policies[kind], action, dlq) for action in consume), kind
    # retry_updates handles updates as the webhook does: whatever the webhook may (but write
    # its own log), manage may.
    for statement in policies["webhook"]:
        if statement.get("Sid") in ("Logs", "InvokedByApiGateway"):  # its own log; API Gateway's use of the role
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            for resource in resources:
                assert _allowed(policies["manage"], action, resource), (action, resource)
    assert not any("ses:SendRawEmail" in json.dumps(s) for s in policies["webhook"] + policies["manage"])
    for kind in ("site", "sender"):
        (mail,) = [s for s in policies[kind] if "ses:SendRawEmail" in s["Action"]]
        assert mail["Condition"]["StringLike"]["ses:FromAddress"] == "*@dev.meetups.example.com"

    iam = _client("iam")
    for kind in zappa_stages.KINDS:
        trust = iam.get_role(RoleName=f"meetups-dev-{kind}")["Role"]["AssumeRolePolicyDocument"]
        principals = [s["Principal"]["Service"] for s in trust["Statement"]]
        # Zappa 0.63 makes the site's and webhook's role their REST API integration's
        # credentials: API Gateway assumes it to invoke the function. The others only run.
        behind_api_gateway = kind in ("site", "webhook")
        assert principals == ["lambda.amazonaws.com"] + (["apigateway.amazonaws.com"] if behind_api_gateway else [])
        for other in zappa_stages.KINDS:
            function = f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:meetups-dev-{other}"
            assert _allowed(policies[kind], "lambda:InvokeFunction", function) == (behind_api_gateway and other == kind)


def _role_statements(role: dict) -> list[dict]:
    return [s for policy in role["Properties"].get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]


def test_no_function_may_create_its_own_log_group():
    """The stack makes every function's log group with a retention. A function that could
    create its group (after someone deleted it, or under another name) would make one that
    keeps logs forever; AWS's AWSLambdaVPCAccessExecutionRole grants logs:CreateLogGroup on
    every group, so no role attaches it (or any managed policy: its grants are not in this
    file) and the network interface actions are listed inline instead."""
    roles = {name: r for name, r in template()["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert {"SiteRole", "WebhookRole", "SenderRole", "ManageRole"} <= set(roles)
    for name, role in roles.items():
        assert not role["Properties"].get("ManagedPolicyArns"), name
        statements = _role_statements(role)
        actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        assert not any(fnmatch.fnmatchcase("logs:CreateLogGroup", a) for a in actions), (name, actions)
        assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions, name
        # What Lambda needs to run the function in the stage's private subnets.
        assert {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface"} <= actions, name
        assert not any(a.startswith("ec2:") and not a.endswith(("NetworkInterface", "NetworkInterfaces", "Subnets",
                                                                  "PrivateIpAddresses")) for a in actions), name


def _secret_readers(stage: str) -> dict[str, list[str]]:
    """Per role in the template, the secret ARN patterns it may GetSecretValue on."""
    readers = {}
    for logical_id, kind in (("SiteRole", "site"), ("WebhookRole", "webhook"), ("SenderRole", "sender"), ("ManageRole", "manage")):
        (policy,) = template()["Resources"][logical_id]["Properties"]["Policies"]
        patterns = []
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase("secretsmanager:GetSecretValue", a) for a in actions):
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                patterns += [_resolve(r, stage) for r in resources if "Ref" not in r]  # Ref: the admin secret
        readers[kind] = patterns
    return readers


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_only_the_site_and_the_sender_may_read_the_bot_token(stage):
    """Read from the template (moto's CloudFormation creates no Secret to take an ARN from):
    the names zappa_settings.json gives the functions, as Secrets Manager makes their ARNs
    (name, '-', six random characters), against each role's GetSecretValue resources."""
    env = zappa_stages.environment(stage)
    arn = f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:{{}}-Ab12Cd"
    stage_arn, token_arn = arn.format(env["SECRETS_NAME"]), arn.format(env["BOT_TOKEN_SECRET_NAME"])
    readers = _secret_readers(stage)

    def may_read(kind: str, secret_arn: str) -> bool:
        return any(fnmatch.fnmatchcase(secret_arn, pattern) for pattern in readers[kind])

    assert not may_read("webhook", token_arn) and not may_read("manage", token_arn)
    assert may_read("webhook", stage_arn) and may_read("manage", stage_arn)
    for kind in ("site", "sender"):
        assert may_read(kind, token_arn), kind
        assert may_read(kind, stage_arn), kind
    # Nothing broader than these two secrets: not another stage's, not a neighbour's name.
    other = "prod" if stage == "dev" else "dev"
    for kind in zappa_stages.KINDS:
        for name in (f"meetups/{other}", f"meetups/{other}/bot-token", f"meetups/{stage}-extra", f"meetups/{stage}/other"):
            assert not may_read(kind, arn.format(name)), (kind, name)
