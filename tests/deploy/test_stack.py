"""
infra/aws/stack.yaml: cfn-lint passes, and deployed into moto's CloudFormation by
`python -m infra.stages stack` it creates what the code and the rendered Zappa settings
expect: queue names, redrive, visibility, roles with exactly the permissions each function
needs, the SES identity and its DKIM records, the regional custom domains on a certificate of
the stage's region, the private database, and, once the functions exist, the sender's event
source, the sweep's schedule and the base path mappings. moto's CloudFormation lacks a few
resource types; infra/local/moto_cfn.py adds them on moto's own services.
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
def moto(moto_server, tmp_path, monkeypatch):
    import httpx

    from infra.local import moto_cfn
    from project.core.aws import reset_clients

    # The rendered settings go to this test's own directory, not the checkout's var/stages
    # (a rehearsal or an operator may be using those).
    monkeypatch.setenv("STAGE_SETTINGS_DIR", str(tmp_path / "stages"))
    moto_cfn.install()
    httpx.post(f"{moto_server}/moto-api/reset")
    reset_clients()
    yield moto_server
    reset_clients()


def _client(service):
    from project.core.aws import client

    return client(service)


def _deploy(stage="dev", **overrides):
    """`python -m infra.stages stack <stage>`, as the operator runs it (outputs, rendered settings)."""
    import dataclasses

    from infra.stages import config, stack

    stage_config = dataclasses.replace(config.load(stage), **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = stack.deploy(stage_config, poll_seconds=0, say=lambda line: None)
    return result.outputs


def _stand_in_functions(stage="dev"):
    """What `zappa deploy` creates, as far as the stack's second pass needs it: the functions,
    and each API function's REST API in a CloudFormation stack named after the function
    (Zappa's own layout: its resource "Api" is the REST API), deployed to the Zappa stage."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    role = _client("iam").create_role(RoleName="stand-in", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    apis = {}
    for kind in ("site", "webhook", "sender", "manage"):
        _client("lambda").create_function(
            FunctionName=f"meetups-{stage}-{kind}", Runtime="python3.11", Handler="handler.lambda_handler",
            Role=role, Code={"ZipFile": buffer.getvalue()},
        )
    for kind in ("site", "webhook"):
        template = {"Resources": {
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": f"meetups-{stage}-{kind}"}},
        }}
        _client("cloudformation").create_stack(StackName=f"meetups-{stage}-{kind}", TemplateBody=json.dumps(template))
        api_id = _client("cloudformation").describe_stack_resource(
            StackName=f"meetups-{stage}-{kind}", LogicalResourceId="Api")["StackResourceDetail"]["PhysicalResourceId"]
        apigateway = _client("apigateway")
        root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
        apigateway.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE")
        apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="ANY", type="MOCK")
        apigateway.create_deployment(restApiId=api_id, stageName=f"{stage}_{kind}")
        apis[kind] = api_id
    return apis


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
def test_the_stack_creates_what_the_settings_and_the_code_expect(moto, stage):
    from infra.stages import render
    from project.notifications import conf as notifications_conf

    outputs = _deploy(stage)
    rendered = json.loads(render.settings_path(stage).read_text())
    env = rendered[f"{stage}_site"]["aws_environment_variables"]
    assert env["OUTBOX_QUEUE_URL"] == outputs["OutboxQueueUrl"]
    assert env["OUTBOX_DLQ_URL"] == outputs["OutboxDeadLetterQueueUrl"]
    assert outputs["SecretName"] == env["SECRETS_NAME"] == f"meetups/{stage}"
    assert outputs["BotTokenSecretName"] == env["BOT_TOKEN_SECRET_NAME"]
    for kind in zappa_stages.KINDS:
        assert rendered[f"{stage}_{kind}"]["role_arn"] == outputs[f"{kind.capitalize()}RoleArn"]
        assert rendered[f"{stage}_{kind}"]["vpc_config"]["SubnetIds"] == outputs["FunctionSubnetIds"].split(",")

    sqs = _client("sqs")
    queue_url = sqs.get_queue_url(QueueName=f"meetups-{stage}-outbox")["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == outputs["OutboxDeadLetterQueueArn"]
    # The sender reads maxReceiveCount from here (docs/OUTBOX.md: 8 rides out ~20 minutes of
    # Telegram errors with its backoff); an override, if any, must agree.
    assert int(redrive["maxReceiveCount"]) == 8
    assert notifications_conf.max_receive_count() in (None, 8)
    assert int(queue["VisibilityTimeout"]) >= 6 * rendered[f"{stage}_sender"]["timeout_seconds"]
    dlq_url = sqs.get_queue_url(QueueName=f"meetups-{stage}-outbox-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == 14 * 24 * 3600
    assert "RedrivePolicy" not in dlq
    # Both secrets exist, empty (the operator commands put the values).
    for name in (outputs["SecretName"], outputs["BotTokenSecretName"]):
        assert _client("secretsmanager").describe_secret(SecretId=name)["Name"] == name


def test_the_database_is_private_and_its_admin_password_is_generated(moto):
    outputs = _deploy("dev")
    (instance,) = _client("rds").describe_db_instances(DBInstanceIdentifier="meetups-dev")["DBInstances"]
    assert instance["PubliclyAccessible"] is False
    assert instance["Engine"] == "postgres" and instance["StorageEncrypted"] is True
    assert outputs["DatabaseHost"] == instance["Endpoint"]["Address"]
    resources = template()["Resources"]
    (rule,) = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    # 5432 only from the functions' security group, never from an address range.
    assert rule["SourceSecurityGroupId"] == {"Ref": "FunctionSecurityGroup"} and "CidrIp" not in rule
    for subnet in ("PrivateSubnetA", "PrivateSubnetB"):
        assert "MapPublicIpOnLaunch" not in resources[subnet]["Properties"]
    admin = json.loads(_client("secretsmanager").get_secret_value(SecretId=outputs["DatabaseAdminSecretArn"])["SecretString"])
    assert admin["username"] == "meetups_admin" and len(admin["password"]) == 40
    # Only the manage function's role may read the admin secret.
    for kind in ("site", "webhook", "sender"):
        assert not _allowed(_policy(f"meetups-dev-{kind}"), "secretsmanager:GetSecretValue", outputs["DatabaseAdminSecretArn"])
    assert _allowed(_policy("meetups-dev-manage"), "secretsmanager:GetSecretValue", outputs["DatabaseAdminSecretArn"])


def test_mail_is_sent_as_the_stages_own_identity_with_dkim(moto):
    outputs = _deploy("dev")
    assert outputs["MailIdentity"] == "dev.meetups.example.com"
    identities = _client("sesv2").list_email_identities()["EmailIdentities"]
    assert [i["IdentityName"] for i in identities] == ["dev.meetups.example.com"]
    for i in (1, 2, 3):
        name, target = outputs[f"DkimRecord{i}"].split(" CNAME ")
        assert name.endswith("._domainkey.dev.meetups.example.com") and target.endswith(".dkim.amazonses.com")
    identity_arn = f"arn:aws:ses:eu-central-1:{ACCOUNT}:identity/dev.meetups.example.com"
    for kind in ("site", "sender"):
        statements = _policy(f"meetups-dev-{kind}")
        assert _allowed(statements, "ses:SendRawEmail", identity_arn)
        # Only from its identity: not another one, and no GetSendQuota (django-ses's throttle is off).
        assert not _allowed(statements, "ses:SendRawEmail", f"arn:aws:ses:eu-central-1:{ACCOUNT}:identity/example.org")
        assert not _allowed(statements, "ses:GetSendQuota", "*")


def test_the_custom_domains_are_regional_on_a_certificate_of_the_stages_region(moto):
    outputs = _deploy("dev")
    assert outputs["CertificateArn"].startswith("arn:aws:acm:eu-central-1:")
    certificate = _client("acm").describe_certificate(CertificateArn=outputs["CertificateArn"])["Certificate"]
    assert {certificate["DomainName"], *certificate["SubjectAlternativeNames"]} == {
        "dev.meetups.example.com", "tg.dev.meetups.example.com"}
    for domain, target in (("dev.meetups.example.com", "SiteDomainTarget"), ("tg.dev.meetups.example.com", "WebhookDomainTarget")):
        answer = _client("apigateway").get_domain_name(domainName=domain)
        assert answer["endpointConfiguration"]["types"] == ["REGIONAL"]
        assert answer["regionalCertificateArn"] == outputs["CertificateArn"]
        assert answer["regionalDomainName"] == outputs[target]
    # A certificate of another region is refused before anything is deployed.
    from infra.stages.config import StageConfigError, check

    import dataclasses

    from infra.stages import config

    with pytest.raises(StageConfigError, match="must be in eu-central-1"):
        check(dataclasses.replace(config.load("dev"), certificate_arn="arn:aws:acm:us-east-1:1:certificate/x"))


def test_the_second_pass_wires_the_functions(moto):
    """Before `zappa deploy`: no event source, schedule or mapping. After it, the same command
    adds them: the sender's event source exactly once, with what the sender depends on."""
    _deploy("dev")
    events, lam = _client("events"), _client("lambda")
    assert not [r for r in events.list_rules()["Rules"] if r["Name"] == "meetups-dev-outbox-sweep"]
    apis = _stand_in_functions("dev")
    outputs = _deploy("dev")

    (mapping,) = lam.list_event_source_mappings(FunctionName="meetups-dev-sender")["EventSourceMappings"]
    assert mapping["EventSourceArn"] == outputs["OutboxQueueArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["State"] == "Enabled" and mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 1

    (rule,) = [r for r in events.list_rules()["Rules"] if r["Name"] == "meetups-dev-outbox-sweep"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)" and rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:meetups-dev-site"
    # Zappa's handler runs {"command": "module.function"} by importing it.
    command = json.loads(target["Input"])["command"]
    module_name, function_name = command.rsplit(".", 1)
    assert command == "handlers.sweep.handler"
    assert importlib.util.find_spec(module_name) is not None, "handlers/sweep.py is missing"
    assert callable(getattr(importlib.import_module(module_name), function_name))
    policy = json.loads(lam.get_policy(FunctionName="meetups-dev-site")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}

    for domain, kind in (("dev.meetups.example.com", "site"), ("tg.dev.meetups.example.com", "webhook")):
        (mapping,) = _client("apigateway").get_base_path_mappings(domainName=domain)["items"]
        assert mapping["restApiId"] == apis[kind] and mapping["stage"] == f"dev_{kind}"

    # A release (`zappa update`) leaves the mapping alone; the stack run again changes nothing.
    _deploy("dev")
    assert len(lam.list_event_source_mappings(FunctionName="meetups-dev-sender")["EventSourceMappings"]) == 1


def test_the_connection_budget_is_checked_against_the_database(moto):
    import dataclasses

    from infra.stages import config

    dev = config.load("dev")
    budget = sum(n for _, n in dev.connection_budget())
    assert budget <= dev.max_connections()
    too_many = dataclasses.replace(dev, sizes=dataclasses.replace(dev.sizes, site_concurrency=dev.max_connections()))
    with pytest.raises(config.StageConfigError, match="could open .* database connections"):
        config.check(too_many)


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


def test_the_alarm_mail_subscription_exists_and_waits_for_its_confirmation(moto):
    """The stack subscribes alarm_email to the alarm topic (moto's CloudFormation skipped
    AWS::SNS::Subscription: doctor found no subscription). As on AWS, an email subscription
    waits until the link in the mail is followed."""
    from infra.local import moto_cfn

    _deploy("dev")
    sns = _client("sns")
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":meetups-dev-alarms")]
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "ops@example.com")
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert attributes["PendingConfirmation"] == "true"
    assert moto_cfn.confirm_subscriptions("123456789012", "eu-central-1") == ["ops@example.com"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert attributes["PendingConfirmation"] == "false"


def test_the_certificate_waits_for_its_dns_validation(moto):
    """The stack's certificate is issued once its validation records resolve (by hand): the
    rehearsal plays that step with moto_cfn.issue_certificates, not with moto's 60 s timer."""
    from infra.local import moto_cfn

    outputs = _deploy("dev")
    acm = _client("acm")
    assert acm.describe_certificate(CertificateArn=outputs["CertificateArn"])["Certificate"]["Status"] == "PENDING_VALIDATION"
    assert moto_cfn.issue_certificates("123456789012", "eu-central-1") == ["dev.meetups.example.com"]
    assert acm.describe_certificate(CertificateArn=outputs["CertificateArn"])["Certificate"]["Status"] == "ISSUED"
