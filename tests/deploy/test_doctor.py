"""
doctor, against a stage in moto and the sandbox: healthy, it says so; with one thing broken
at a time, it names that thing in plain words (and the run fails).
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from .conftest import FOREIGN_BOT_TOKEN, write_secret, write_secrets



def _self_signed() -> tuple[bytes, bytes]:
    """A throwaway certificate for moto's ACM (import_certificate: ISSUED at once), made here."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meetups.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def plant_stage_resources(aws, settings, site_host: str, webhook_host: str) -> None:
    """What the stack makes around the functions, healthy: the sweep's schedule, a confirmed
    alarm subscription, log groups with retention, a verified SES identity, and the regional
    custom domains on an issued certificate of the stage's region, mapped to an API."""
    events = aws.client("events")
    events.put_rule(Name="meetups-test-outbox-sweep", ScheduleExpression="rate(5 minutes)", State="ENABLED")
    events.put_targets(Rule="meetups-test-outbox-sweep", Targets=[{
        "Id": "site-sweep", "Arn": "arn:aws:lambda:eu-central-1:123456789012:function:meetups-test-site"}])
    topic = aws.client("sns").create_topic(Name="meetups-test-alarms")["TopicArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    for kind in ("site", "webhook", "sender", "manage"):
        aws.client("logs").create_log_group(logGroupName=f"/aws/lambda/meetups-test-{kind}")
        aws.client("logs").put_retention_policy(logGroupName=f"/aws/lambda/meetups-test-{kind}", retentionInDays=30)
    mail_domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">")
    aws.client("sesv2").create_email_identity(EmailIdentity=mail_domain)
    acm, apigateway = aws.client("acm"), aws.client("apigateway")
    certificate, key = _self_signed()
    arn = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    api = apigateway.create_rest_api(name="meetups-test-site")["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(restApiId=api, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="ANY", type="MOCK")
    apigateway.create_deployment(restApiId=api, stageName="test_site")
    for host in dict.fromkeys((site_host, webhook_host)):
        apigateway.create_domain_name(domainName=host, regionalCertificateArn=arn, endpointConfiguration={"types": ["REGIONAL"]})
        apigateway.create_base_path_mapping(domainName=host, restApiId=api, stage="test_site")


@pytest.fixture
def healthy(aws, sandbox, full_secret, stage_secret, gateway, lambda_functions, live_server, settings, monkeypatch):
    from urllib.parse import urlsplit

    from django.contrib.sites.models import Site

    from project.bot.flows.webhook_setup import register_webhook
    from project.ops import function_check
    from project.ops.flows.doctor import database

    settings.STAGE = "test"
    host = live_server.url.split("://", 1)[1]
    settings.SITE_DOMAIN = host
    settings.SITE_URL = live_server.url
    settings.EMAIL_DELIVERY = "ses"
    Site.objects.update_or_create(id=settings.SITE_ID, defaults={"domain": host, "name": "Meetups"})
    register_webhook()
    plant_stage_resources(aws, settings, urlsplit(live_server.url).hostname, urlsplit(settings.TELEGRAM_WEBHOOK_URL).hostname)
    # Lambda's Invoke of the site function, which moto cannot run: the same handler, here.
    calls = []

    def invoke(kind="site"):
        calls.append(kind)
        return json.loads(json.dumps(function_check.handler({"command": database.FUNCTION_CHECK}, None)))

    monkeypatch.setattr(database, "invoke_function_check", invoke)
    return {"aws": aws, "sandbox": sandbox, "secret": full_secret, "secret_name": stage_secret,
            "mapping": lambda_functions["mapping_uuid"], "invocations": calls}


def doctor():
    from project.ops.flows.doctor import run_doctor

    return run_doctor()


def problem(report, check: str) -> str:
    found = [f.message for f in report.of(check) if f.level == "problem"]
    assert found, f"no problem reported for {check}: {[(f.check, f.level, f.message) for f in report.findings]}"
    return " ".join(found)


def test_a_healthy_stage(healthy):
    out = io.StringIO()
    report = doctor()
    assert report.healthy, [(f.check, f.message) for f in report.problems]
    call_command("doctor", stdout=out)
    text = out.getvalue()
    assert "The stage looks healthy." in text
    report = doctor()
    assert report.healthy
    levels = {f.check: f.level for f in report.findings}
    for check in ("secret", "bot token", "getMe", "webhook", "webhook delivery", "webhook secret", "outbox queue",
                  "dead letters", "sender", "site domain", "site"):
        assert levels[check] == "ok", (check, report.findings)
    for value in healthy["secret"].values():
        assert value not in text


def test_a_foreign_token(healthy):
    write_secrets(healthy["aws"], healthy["secret_name"], {**healthy["secret"], "telegram_bot_token": FOREIGN_BOT_TOKEN})
    report = doctor()
    message = problem(report, "bot token")
    assert "for bot 7000000002" in message and "configured for bot 7000000001" in message
    assert [f.level for f in report.of("getMe")] == ["skipped"]


def test_a_token_telegram_refuses(healthy):
    write_secrets(healthy["aws"], healthy["secret_name"],
                  {**healthy["secret"], "telegram_bot_token": "7000000001:AAH-revoked-or-mistyped-token-000000000000"})
    assert "does not accept this token" in problem(doctor(), "getMe")


def test_a_wrong_bot_username(healthy, settings):
    settings.TELEGRAM_BOT_USERNAME = "meetups_dev_bot"
    assert "@site_local_bot" in problem(doctor(), "getMe")


def test_no_webhook_registered(healthy):
    healthy["sandbox"].bot().webhook.url = ""
    assert "No webhook is registered" in problem(doctor(), "webhook")


def test_the_webhook_registered_elsewhere(healthy):
    from project.bot.flows.webhook_setup import register_webhook

    register_webhook(url="https://old.example.com/telegram/webhook")
    assert "delivers to https://old.example.com/telegram/webhook" in problem(doctor(), "webhook")


def test_telegram_holds_another_secret_and_updates_pile_up(healthy):
    from project.bot.flows.webhook_setup import register_webhook

    sandbox = healthy["sandbox"]
    register_webhook(secret="a-secret-the-stage-does-not-have")
    sandbox.add_user(5151, first_name="Pia")
    sandbox.user_sends(5151, "hello?")
    with pytest.raises(TimeoutError):
        sandbox.wait_for_delivery(timeout=1)
    message = problem(doctor(), "webhook delivery")
    assert "refused" in message and "401" in message and "1 updates are waiting" in message
    assert "setup_webhook" in message


def test_the_webhook_cannot_be_reached(healthy, settings):
    settings.TELEGRAM_WEBHOOK_URL = "http://127.0.0.1:9/telegram/webhook"
    report = doctor()
    assert "Cannot reach the webhook" in problem(report, "webhook secret")
    assert "this stage's webhook is http://127.0.0.1:9/telegram/webhook" in problem(report, "webhook")


def test_the_secret_cannot_be_read(healthy, settings):
    settings.SECRETS_NAME = "meetups/nonexistent"
    settings.BOT_TOKEN_SECRET_NAME = "meetups/test/bot-token"  # named on its own, so still readable
    report = doctor()
    message = problem(report, "secret")
    assert "stage secret 'meetups/nonexistent' does not exist" in message and "SECRETS_NAME" in message
    assert "bot-token" not in message
    assert [f.level for f in report.of("bot token")] == ["ok"]


def test_a_missing_bot_token_secret_is_named(healthy, settings):
    """A stack from before the split, or BOT_TOKEN_SECRET_NAME pointing nowhere."""
    settings.BOT_TOKEN_SECRET_NAME = "meetups/test/no-such-bot-token"
    report = doctor()
    message = problem(report, "secret")
    assert "bot-token secret 'meetups/test/no-such-bot-token' does not exist" in message
    assert "BOT_TOKEN_SECRET_NAME" in message
    assert "'meetups/test'" not in message  # the stage secret is fine, and not blamed
    assert [f.level for f in report.of("bot token")] == ["skipped"]
    assert [f.level for f in report.of("getMe")] == ["skipped"]


def test_an_empty_bot_token_secret(healthy):
    aws = healthy["aws"]
    aws.client("secretsmanager").delete_secret(SecretId=healthy["secret_name"].bot_token_name, ForceDeleteWithoutRecovery=True)
    aws.client("secretsmanager").create_secret(Name=healthy["secret_name"].bot_token_name)  # as the stack makes it
    assert "bot-token secret 'meetups/test/bot-token' is empty: run put_bot_token" in problem(doctor(), "secret")


def test_a_key_missing_from_the_secret(healthy):
    values = {k: v for k, v in healthy["secret"].items() if k != "telegram_oidc_client_secret"}
    write_secrets(healthy["aws"], healthy["secret_name"], values)
    assert "stage secret 'meetups/test' lacks telegram_oidc_client_secret" in problem(doctor(), "secret")


def test_a_missing_database_url(healthy, settings):
    values = {k: v for k, v in healthy["secret"].items() if k != "database_url"}
    write_secrets(healthy["aws"], healthy["secret_name"], values)
    message = problem(doctor(), "secret")
    assert "stage secret 'meetups/test' lacks database_url" in message
    assert "database_setup.handler" in message
    # Functions that get DATABASE_URL from their environment do not need it in the secret.
    settings.OPS_FUNCTIONS_HAVE_DATABASE_URL = True
    report = doctor()
    assert [f.level for f in report.of("secret")] == ["ok"]


def test_the_token_left_in_the_stage_secret_is_a_problem(healthy):
    """Where the webhook function can read it: exactly what the split is for."""
    write_secret(healthy["aws"], healthy["secret_name"], {**healthy["secret"]})  # the token too
    message = problem(doctor(), "secret")
    assert "stage secret 'meetups/test' holds telegram_bot_token" in message and "put_bot_token" in message


def test_an_unfinished_rotation_is_a_warning(healthy):
    write_secrets(healthy["aws"], healthy["secret_name"],
                  {**healthy["secret"], "telegram_webhook_secret_previous": "an-older-webhook-secret"})
    report = doctor()
    assert report.healthy
    assert any(f.level == "warn" and "--finish" in f.message for f in report.of("secret"))


def test_dead_letters(healthy):
    aws = healthy["aws"]
    for i in (1, 2):
        aws.client("sqs").send_message(QueueUrl=aws.dlq_url, MessageBody=json.dumps({"v": 1, "delivery_id": i}))
    message = problem(doctor(), "dead letters")
    assert "2 messages are in the dead-letter queue" in message and "replay_dead_letters" in message
    # Where it works: in the manage function (the database is private), with the rendered settings.
    from django.conf import settings

    stage = settings.STAGE
    assert f"zappa manage {stage}_manage replay_dead_letters -s var/stages/{stage}/zappa_settings.json" in message


def test_a_queue_without_redrive(healthy):
    aws = healthy["aws"]
    aws.client("sqs").set_queue_attributes(QueueUrl=aws.queue_url, Attributes={"RedrivePolicy": ""})
    assert "no redrive policy" in problem(doctor(), "outbox queue")


def test_an_override_that_disagrees_with_the_queue(healthy, settings):
    settings.OUTBOX_MAX_RECEIVE_COUNT = 8  # the aws fixture's queue says 5
    assert "maxReceiveCount is 5, but OUTBOX_MAX_RECEIVE_COUNT=8" in problem(doctor(), "outbox queue")


def test_a_visibility_timeout_too_short_for_the_sender(healthy):
    aws = healthy["aws"]
    aws.client("sqs").set_queue_attributes(QueueUrl=aws.queue_url, Attributes={"VisibilityTimeout": "30"})
    assert "under six times the sender's timeout (10 s)" in problem(doctor(), "outbox queue")


def test_the_sender_mapping_as_zappa_update_leaves_it(healthy, settings):
    healthy["aws"].client("lambda").update_event_source_mapping(
        UUID=healthy["mapping"], Enabled=False, FunctionResponseTypes=[], ScalingConfig={"MaximumConcurrency": 5})
    message = problem(doctor(), "sender")
    assert "disabled" in message
    assert "ReportBatchItemFailures is off" in message
    assert "MaximumConcurrency is 5" in message and "SENDER_MAX_CONCURRENCY=2" in message
    assert "python -m infra.stages stack test" in message


def test_the_sender_not_deployed(healthy):
    healthy["aws"].client("lambda").delete_function(FunctionName="meetups-test-sender")
    assert "There is no function meetups-test-sender" in problem(doctor(), "sender")


def test_the_site_record_names_another_domain(healthy, settings):
    from django.contrib.sites.models import Site

    Site.objects.filter(id=settings.SITE_ID).update(domain="old.example.com")
    message = problem(doctor(), "site domain")
    assert "says old.example.com" in message and "ensure_site" in message


def test_the_site_does_not_answer(healthy, settings):
    settings.SITE_URL = "http://127.0.0.1:9"
    assert "Cannot reach http://127.0.0.1:9/" in problem(doctor(), "site")


def test_the_command_fails_and_lists_each_problem(healthy, settings):
    settings.SENDER_MAX_CONCURRENCY = 4
    healthy["sandbox"].bot().webhook.url = ""
    out = io.StringIO()
    with pytest.raises(CommandError, match="3 problems found"):
        call_command("doctor", stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("PROBLEM")]
    assert len(lines) == 3
    assert lines[0].startswith("PROBLEM  webhook: No webhook is registered")
    assert lines[1].startswith("PROBLEM  sender:") and "MaximumConcurrency is 2" in lines[1]
    # The sender function's own environment says 2 as well: named, with what to run.
    assert lines[2].startswith("PROBLEM  functions: meetups-test-sender: SENDER_MAX_CONCURRENCY=2")
    # With the package built for Lambda: a bare `zappa update` would package this machine's wheels.
    assert ("zappa update test_sender -s var/stages/test/zappa_settings.json --zip var/packages/test/test_sender.zip"
            in lines[2])


# --- issue 11's new checks: each fault planted, and each silent on the healthy stage above ---


def test_a_function_whose_override_disagrees_with_the_queue(healthy):
    lam = healthy["aws"].client("lambda")
    env = lam.get_function_configuration(FunctionName="meetups-test-sender")["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName="meetups-test-sender",
                                      Environment={"Variables": {**env, "OUTBOX_MAX_RECEIVE_COUNT": "3"}})
    message = problem(doctor(), "functions")
    assert "meetups-test-sender" in message and "OUTBOX_MAX_RECEIVE_COUNT=3 overrides the queue's maxReceiveCount 5" in message


def test_a_function_without_the_queue_url(healthy):
    lam = healthy["aws"].client("lambda")
    lam.update_function_configuration(FunctionName="meetups-test-webhook", Environment={"Variables": {"STAGE": "test"}})
    assert "meetups-test-webhook: it has no OUTBOX_QUEUE_URL" in problem(doctor(), "functions")


def test_pending_migrations_seen_by_the_site_function(healthy, monkeypatch):
    from project.ops import function_check

    monkeypatch.setattr(function_check, "pending_migrations", lambda connection: ["notifications.0099_new"])
    message = problem(doctor(), "migrations")
    assert "notifications.0099_new" in message and "prepare_release" not in message and "migrate" in message
    assert healthy["invocations"] == ["site"]


def test_the_site_function_cannot_reach_its_database(healthy, monkeypatch):
    from project.ops.flows.doctor import database

    monkeypatch.setattr(database, "invoke_function_check", lambda kind="site": {"database": "OperationalError: timeout"})
    assert "cannot reach its database (OperationalError: timeout)" in problem(doctor(), "database (site function)")


def test_the_sweep_schedule_disabled(healthy):
    healthy["aws"].client("events").disable_rule(Name="meetups-test-outbox-sweep")
    assert "aws events enable-rule --name meetups-test-outbox-sweep" in problem(doctor(), "sweep")


def _alarm_subscription():
    """The stage's one alarm subscription in moto's SNS backend. moto (in this process: the
    tests' moto server is threaded) confirms every subscription at once and has no API to
    undo that; its backend state is where AWS's answer for an unconfirmed one is planted."""
    from moto.sns.models import sns_backends

    (subscription,) = sns_backends["123456789012"]["eu-central-1"].subscriptions.values()
    return subscription


@pytest.mark.parametrize("seen_as", ["attribute", "listing"])
def test_an_unconfirmed_alarm_subscription(healthy, seen_as):
    """AWS shows an email subscription nobody confirmed in two ways: GetSubscriptionAttributes
    says PendingConfirmation "true" (for the ARN CloudFormation's AWS::SNS::Subscription gets
    back), and ListSubscriptionsByTopic gives "PendingConfirmation" in place of its ARN."""
    sns = healthy["aws"].client("sns")
    subscription = _alarm_subscription()
    if seen_as == "attribute":
        subscription.attributes["PendingConfirmation"] = "true"
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription.arn)["Attributes"]
        assert attributes["PendingConfirmation"] == "true"
    else:
        subscription.arn = "PendingConfirmation"
        (listed,) = sns.list_subscriptions()["Subscriptions"]
        assert listed["SubscriptionArn"] == "PendingConfirmation"
    message = problem(doctor(), "alarm mail")
    assert "The alarm subscription of ops@example.com is not confirmed" in message
    assert "click the link in AWS's confirmation mail" in message


def test_a_confirmed_alarm_subscription_is_not_a_problem(healthy):
    """The control for the test above: moto's own state, as AWS shows a confirmed one."""
    attributes = healthy["aws"].client("sns").get_subscription_attributes(SubscriptionArn=_alarm_subscription().arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert [(f.level, f.message) for f in doctor().of("alarm mail")] == [("ok", "Alarms mail ops@example.com (confirmed).")]


def test_a_log_group_without_retention(healthy):
    healthy["aws"].client("logs").delete_retention_policy(logGroupName="/aws/lambda/meetups-test-sender")
    assert "/aws/lambda/meetups-test-sender keep logs forever" in problem(doctor(), "log retention")


def test_no_ses_identity(healthy, settings):
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">")
    healthy["aws"].client("sesv2").delete_email_identity(EmailIdentity=domain)
    assert f"SES has no identity {domain}" in problem(doctor(), "mail")


def test_ses_in_the_sandbox_is_a_warning(healthy):
    report = doctor()
    assert any(f.level == "warn" and "sandbox" in f.message for f in report.of("mail"))


def test_a_certificate_of_another_region(healthy):
    from urllib.parse import urlsplit

    apigateway = healthy["aws"].client("apigateway")
    host = urlsplit(healthy["sandbox"].url).hostname  # the webhook's host in this fixture is 127.0.0.1 too
    for item in apigateway.get_domain_names()["items"]:
        apigateway.delete_domain_name(domainName=item["domainName"])
        apigateway.create_domain_name(domainName=item["domainName"], endpointConfiguration={"types": ["REGIONAL"]},
                                      regionalCertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/x")
    assert host and "certificate is in us-east-1, but a regional domain needs one in eu-central-1" in problem(doctor(), "certificate")


def test_a_webhook_error_that_ended_is_history(healthy):
    """Telegram still shows an old 401 after the secret was fixed and the backlog delivered."""
    import datetime

    bot = healthy["sandbox"].bot()
    bot.last_error_date = int((datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)).timestamp())
    bot.last_error_message = "Wrong response from the webhook: 401 Unauthorized"
    report = doctor()
    (finding,) = report.of("webhook delivery")
    assert finding.level == "ok" and "history" in finding.message
