"""
infra/aws/stack.yaml: cfn-lint passes, and deployed into moto's CloudFormation it creates what
the code and zappa_settings.json expect: queue names, redrive, visibility, roles with exactly
the permissions each function needs, the sweep's schedule. moto's CloudFormation does not
create AWS::SecretsManager::Secret or AWS::CloudWatch::Alarm (it skips them with a warning),
so those two are checked in the template itself, resolved against what moto did create.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import io
import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from . import zappa_stages
from .zappa_stages import BASE_DIR

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

TEMPLATE = BASE_DIR / "infra" / "aws" / "stack.yaml"
ACCOUNT = "123456789012"  # moto's account, and the placeholder in zappa_settings.json


def template() -> dict:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.loads(TEMPLATE.read_text())


def test_cfn_lint_passes():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    answer = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr


@pytest.fixture
def moto(moto_server):
    import httpx

    from project.core.aws import reset_clients

    httpx.post(f"{moto_server}/moto-api/reset")
    reset_clients()
    yield moto_server
    reset_clients()


def _client(service):
    from project.core.aws import client

    return client(service)


def _deploy(stage="dev", functions_deployed="false", update=False, **extra):
    cf = _client("cloudformation")
    params = {"Stage": stage, "Domain": zappa_stages.environment(stage)["SITE_DOMAIN"],
              "BotId": zappa_stages.environment(stage)["TELEGRAM_BOT_ID"], "FunctionsDeployed": functions_deployed, **extra}
    call = cf.update_stack if update else cf.create_stack
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # moto: "not supported" for Secret and Alarm
        call(StackName=f"meetups-{stage}", TemplateBody=TEMPLATE.read_text(), Capabilities=["CAPABILITY_NAMED_IAM"],
             Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    stack = cf.describe_stacks(StackName=f"meetups-{stage}")["Stacks"][0]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def _policy(role: str) -> list[dict]:
    iam = _client("iam")
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        # moto's CloudFormation stores the document as Python's repr of the dict.
        import ast

        document = ast.literal_eval(document)
    return document["Statement"]


def _allowed(statements: list[dict], action: str, resource: str) -> bool:
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_stack_creates_what_zappa_settings_and_the_code_expect(moto, stage):
    from project.notifications import conf as notifications_conf

    outputs = _deploy(stage)
    env = zappa_stages.environment(stage)
    assert outputs["OutboxQueueUrl"].endswith(env["OUTBOX_QUEUE_URL"].split("amazonaws.com")[1])
    assert outputs["OutboxDeadLetterQueueUrl"].endswith(env["OUTBOX_DLQ_URL"].split("amazonaws.com")[1])
    assert outputs["SecretName"] == env["SECRETS_NAME"]
    assert outputs["BotTokenSecretName"] == env["BOT_TOKEN_SECRET_NAME"]
    sender = zappa_stages.load(f"{stage}_sender")
    assert outputs["OutboxQueueArn"] == sender.stage_config["events"][0]["event_source"]["arn"]
    for kind in zappa_stages.KINDS:
        assert outputs[f"{kind.capitalize()}RoleArn"] == zappa_stages.load(f"{stage}_{kind}").desired_role_arn

    sqs = _client("sqs")
    queue_url = sqs.get_queue_url(QueueName=f"meetups-{stage}-outbox")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == outputs["OutboxDeadLetterQueueArn"]
    # The sender reads maxReceiveCount from here (docs/OUTBOX.md: 8 rides out ~20 minutes of
    # Telegram errors with its backoff); an override, if any, must agree.
    assert int(redrive["maxReceiveCount"]) == 8
    assert notifications_conf.max_receive_count() in (None, 8)
    assert int(queue["VisibilityTimeout"]) >= 6 * sender.timeout_seconds
    dlq_url = sqs.get_queue_url(QueueName=f"meetups-{stage}-outbox-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == 14 * 24 * 3600
    assert "RedrivePolicy" not in dlq


def test_each_role_may_do_only_what_its_function_needs(moto):
    outputs = _deploy("dev")
    queue, dlq = outputs["OutboxQueueArn"], outputs["OutboxDeadLetterQueueArn"]
    # The secret as Secrets Manager names it (moto's CloudFormation cannot create it).
    secret_arn = _client("secretsmanager").create_secret(Name=outputs["SecretName"])["ARN"]
    token_arn = _client("secretsmanager").create_secret(Name=outputs["BotTokenSecretName"])["ARN"]
    other_secret = _client("secretsmanager").create_secret(Name="meetups/prod")["ARN"]
    other_token = _client("secretsmanager").create_secret(Name="meetups/prod/bot-token")["ARN"]

    policies = {kind: _policy(f"meetups-dev-{kind}") for kind in zappa_stages.KINDS}
    consume = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
    for kind, statements in policies.items():
        assert _allowed(statements, "secretsmanager:GetSecretValue", secret_arn), kind
        assert not _allowed(statements, "secretsmanager:GetSecretValue", other_secret), kind
        assert not _allowed(statements, "secretsmanager:GetSecretValue", other_token), kind
        assert not _allowed(statements, "secretsmanager:PutSecretValue", secret_arn), kind
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
    # The bot token: the site (sign-in signatures) and the sender; never the webhook.
    assert not _allowed(policies["webhook"], "secretsmanager:GetSecretValue", token_arn)
    for kind in ("site", "sender"):
        assert _allowed(policies[kind], "secretsmanager:GetSecretValue", token_arn), kind
    for kind in ("site", "webhook"):
        assert _allowed(policies[kind], "sqs:SendMessage", queue)
        for action in consume:
            assert not _allowed(policies[kind], action, queue), (kind, action)
    for action in [*consume, "sqs:GetQueueAttributes"]:
        assert _allowed(policies["sender"], action, queue), action
    assert not _allowed(policies["sender"], "sqs:SendMessage", queue)
    # Mail: from the stage's own domain only; the webhook sends none.
    assert not any("ses:SendRawEmail" in json.dumps(s) for s in policies["webhook"])
    for kind in ("site", "sender"):
        (mail,) = [s for s in policies[kind] if "ses:SendRawEmail" in s["Action"]]
        assert mail["Condition"]["StringLike"]["ses:FromAddress"] == "*@dev.meetups.example.com"

    iam = _client("iam")
    for kind in zappa_stages.KINDS:
        trust = iam.get_role(RoleName=f"meetups-dev-{kind}")["Role"]["AssumeRolePolicyDocument"]
        principals = [s["Principal"]["Service"] for s in trust["Statement"]]
        assert principals == ["lambda.amazonaws.com"]


def test_the_sweep_is_scheduled_once_the_functions_exist(moto):
    _deploy("dev")
    events = _client("events")
    assert not [r for r in events.list_rules()["Rules"] if r["Name"] == "meetups-dev-outbox-sweep"]
    _client("cloudformation").delete_stack(StackName="meetups-dev")

    # What `zappa deploy dev_site` creates, as far as the stack's second pass needs it.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    _client("lambda").create_function(
        FunctionName="meetups-dev-site", Runtime="python3.11", Handler="handler.lambda_handler",
        Role=_client("iam").create_role(RoleName="stand-in", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"],
        Code={"ZipFile": buffer.getvalue()},
    )
    # In AWS this is an update of the same stack; moto's update does not create resources
    # whose Condition turned true (it diffs templates, not conditions), so a fresh stack.
    _deploy("dev", functions_deployed="true")

    (rule,) = [r for r in events.list_rules()["Rules"] if r["Name"] == "meetups-dev-outbox-sweep"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:meetups-dev-site"
    # Zappa's handler runs {"command": "module.function"} by importing it.
    command = json.loads(target["Input"])["command"]
    module_name, function_name = command.rsplit(".", 1)
    assert command == "handlers.sweep.handler"
    policy = json.loads(_client("lambda").get_policy(FunctionName="meetups-dev-site")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
    assert importlib.util.find_spec(module_name) is not None, "handlers/sweep.py is missing"
    assert callable(getattr(importlib.import_module(module_name), function_name))


@pytest.mark.parametrize("resource_name, name", [
    ("StageSecret", "${ProjectName}/${Stage}"),
    ("BotTokenSecret", "${ProjectName}/${Stage}/bot-token"),
])
def test_the_secrets_are_created_empty_and_survive_the_stack(resource_name, name):
    resource = template()["Resources"][resource_name]
    assert resource["Type"] == "AWS::SecretsManager::Secret"
    properties = resource["Properties"]
    # Values are put by the operator commands, never by the template.
    assert "SecretString" not in properties and "GenerateSecretString" not in properties
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    assert properties["Name"] == {"Fn::Sub": name}


def _resolve(value, stage: str) -> str:
    """A Fn::Sub string of the template, with the parameters and pseudo parameters of `stage`."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    for key, replacement in {"${AWS::Partition}": "aws", "${AWS::Region}": "eu-central-1",
                             "${AWS::AccountId}": ACCOUNT, "${ProjectName}": "meetups", "${Stage}": stage}.items():
        text = text.replace(key, replacement)
    assert "${" not in text, text
    return text


def _secret_readers(stage: str) -> dict[str, list[str]]:
    """Per role in the template, the secret ARN patterns it may GetSecretValue on."""
    readers = {}
    for logical_id, kind in (("SiteRole", "site"), ("WebhookRole", "webhook"), ("SenderRole", "sender")):
        (policy,) = template()["Resources"][logical_id]["Properties"]["Policies"]
        patterns = []
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if statement["Effect"] == "Allow" and any(fnmatch.fnmatchcase("secretsmanager:GetSecretValue", a) for a in actions):
                resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                patterns += [_resolve(r, stage) for r in resources]
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

    assert not may_read("webhook", token_arn)
    assert may_read("webhook", stage_arn)
    for kind in ("site", "sender"):
        assert may_read(kind, token_arn), kind
        assert may_read(kind, stage_arn), kind
    # Nothing broader than these two secrets: not another stage's, not a neighbour's name.
    other = "prod" if stage == "dev" else "dev"
    for kind in zappa_stages.KINDS:
        for name in (f"meetups/{other}", f"meetups/{other}/bot-token", f"meetups/{stage}-extra", f"meetups/{stage}/other"):
            assert not may_read(kind, arn.format(name)), (kind, name)


def test_the_functions_name_the_secrets_the_stack_makes():
    """BOT_TOKEN_SECRET_NAME in zappa_settings.json is also what project.core.secrets would
    derive from SECRETS_NAME, so a stage without it would still find the same secret."""
    for stage in zappa_stages.STAGES:
        env = zappa_stages.environment(stage)
        assert env["SECRETS_NAME"] == _resolve(template()["Resources"]["StageSecret"]["Properties"]["Name"], stage)
        assert env["BOT_TOKEN_SECRET_NAME"] == _resolve(template()["Resources"]["BotTokenSecret"]["Properties"]["Name"], stage)
        assert env["BOT_TOKEN_SECRET_NAME"] == f"{env['SECRETS_NAME']}/bot-token"


def test_the_default_bot_token_secret_name_follows_secrets_name(settings):
    from project.core import secrets

    settings.SECRETS_NAME = "meetups/dev"
    settings.BOT_TOKEN_SECRET_NAME = ""
    assert secrets.secret_name("BOT_TOKEN_SECRET_NAME") == "meetups/dev/bot-token"


def test_the_dead_letter_alarm_watches_the_dead_letter_queue(moto):
    outputs = _deploy("dev")
    resources = template()["Resources"]
    alarm = resources["DeadLetterAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    (dimension,) = alarm["Dimensions"]
    assert dimension["Name"] == "QueueName"
    assert dimension["Value"] == {"Fn::GetAtt": ["OutboxDeadLetterQueue", "QueueName"]}
    assert outputs["OutboxDeadLetterQueueArn"].rsplit(":", 1)[-1] == "meetups-dev-outbox-dlq"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    stuck = resources["StuckOutboxAlarm"]["Properties"]
    assert stuck["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["OutboxQueue", "QueueName"]}
    assert stuck["MetricName"] == "ApproximateAgeOfOldestMessage"
