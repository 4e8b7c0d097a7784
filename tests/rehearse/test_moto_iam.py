"""IAM in the rehearsal's moto is evaluated as AWS evaluates it (infra/rehearse/moto_iam.py).

Each statement the stack relies on is tried both ways: allowed where AWS allows it, denied
where AWS denies it, with moto enforcing IAM and the caller holding a role's credentials
from moto's STS, as a function does.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from infra.rehearse import moto_iam
from infra.rehearse.aws_world import ACCOUNT, AwsWorld

LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
SECRET_PREFIX = f"arn:aws:secretsmanager:eu-central-1:{ACCOUNT}:secret:"


@pytest.fixture(scope="module")
def world():
    started = AwsWorld().start()
    yield started
    started.stop()


def role(world, name: str, statements: list[dict], trust: dict = LAMBDA_TRUST) -> str:
    iam = world.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


def denied(call) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403 or "AccessDenied" in str(exc)
    return False


def test_iam_wildcards_mean_what_iam_says():
    assert moto_iam.matches(SECRET_PREFIX + "meetups/dev-??????", SECRET_PREFIX + "meetups/dev-AbC123")
    assert not moto_iam.matches(SECRET_PREFIX + "meetups/dev-??????", SECRET_PREFIX + "meetups/dev/bot-token-AbC123")
    assert not moto_iam.matches(SECRET_PREFIX + "meetups/dev-??????", SECRET_PREFIX + "meetups/dev-AbC1234")
    assert moto_iam.matches("arn:aws:sqs:*:*:meetups-dev-outbox", "arn:aws:sqs:eu-central-1:1:meetups-dev-outbox")
    assert not moto_iam.matches("a.b", "axb")  # "." is literal, not a regex
    assert moto_iam.matches("sqs:sendmessage", "sqs:SendMessage", ignore_case=True)


def test_moto_alone_misreads_the_question_mark():
    """Why moto_iam exists: moto 5.2 makes a regex by replacing `*` only, so the stack's
    `-??????` is a regex error (or, elsewhere, a quantifier) instead of six characters."""
    import re

    def moto_5_2_match(pattern: str, value: str):
        return re.match("^" + pattern.replace("*", ".*") + "$", value)

    try:
        verdict = moto_5_2_match(SECRET_PREFIX + "meetups/dev-??????", SECRET_PREFIX + "meetups/dev-AbC123")
    except re.error:
        verdict = None
    assert verdict is None  # AWS would allow this secret; moto alone would not
    assert moto_iam.matches(SECRET_PREFIX + "meetups/dev-??????", SECRET_PREFIX + "meetups/dev-AbC123")


def test_a_secret_by_name_pattern_both_ways(world):
    sm = world.client("secretsmanager")
    sm.create_secret(Name="meetups/dev", SecretString="{}")
    sm.create_secret(Name="meetups/dev/bot-token", SecretString="{}")
    arn = role(world, "webhook-like", [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                        "Resource": SECRET_PREFIX + "meetups/dev-??????"}])
    as_role = world.client("secretsmanager", world.role_credentials(arn, "webhook-test"))
    assert as_role.get_secret_value(SecretId="meetups/dev")["Name"] == "meetups/dev"
    assert denied(lambda: as_role.get_secret_value(SecretId="meetups/dev/bot-token"))
    assert denied(lambda: as_role.describe_secret(SecretId="meetups/dev"))  # only GetSecretValue


def test_a_condition_on_the_sender_address_both_ways(world):
    ses = world.client("ses")
    ses.verify_domain_identity(Domain="dev.meetups.example.com")
    ses.verify_domain_identity(Domain="other.example.com")
    arn = role(world, "mailer", [{"Effect": "Allow", "Action": ["ses:SendRawEmail"], "Resource": "*",
                                  "Condition": {"StringLike": {"ses:FromAddress": "*@dev.meetups.example.com"}}}])
    as_role = world.client("ses", world.role_credentials(arn, "mailer-test"))
    raw = b"From: x@example.com\r\nTo: y@example.com\r\nSubject: s\r\n\r\nbody"
    as_role.send_raw_email(Source="Meetups <no-reply@dev.meetups.example.com>", Destinations=["y@example.com"],
                           RawMessage={"Data": raw})
    assert denied(lambda: as_role.send_raw_email(Source="no-reply@other.example.com", Destinations=["y@example.com"],
                                                 RawMessage={"Data": raw}))
    assert denied(lambda: as_role.get_send_quota())


def test_a_condition_operator_not_implemented_never_allows(world):
    arn = role(world, "odd-condition", [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*",
                                         "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "300"}}}])
    as_role = world.client("sqs", world.role_credentials(arn, "odd-test"))
    assert denied(lambda: as_role.list_queues())


def test_only_a_role_that_trusts_lambda_is_assumed_for_a_function(world):
    nothing = [{"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]
    trusted = role(world, "fn-trusted", nothing)
    untrusted = role(world, "fn-untrusted", nothing, trust={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    keys = world.role_credentials(trusted, "trusted-test")
    caller = world.client("sts", keys).get_caller_identity()["Arn"]
    assert caller.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-trusted/")
    with pytest.raises(ClientError):
        world.role_credentials(untrusted, "untrusted-test")


def test_unknown_keys_are_refused(world):
    from infra.rehearse.aws_world import Keys

    assert denied(lambda: world.client("sqs", Keys("AKIAUNKNOWNKEY000000", "x")).list_queues())


def test_a_role_made_by_cloudformation_is_evaluated_like_any_role(world):
    template = {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": "stack-made", "AssumeRolePolicyDocument": LAMBDA_TRUST,
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]}}]}}}}
    world.client("cloudformation").create_stack(StackName="roles", TemplateBody=json.dumps(template))
    keys = world.role_credentials(f"arn:aws:iam::{ACCOUNT}:role/stack-made", "stack-made-test")
    world.client("sqs", keys).list_queues()  # allowed by its inline policy
    assert denied(lambda: world.client("sns", keys).list_topics())


def test_sqs_batch_calls_are_authorized_as_their_single_actions_both_ways(world):
    """IAM has no sqs:SendMessageBatch permission: a batch is authorized as SendMessage (and
    DeleteMessageBatch as DeleteMessage, ChangeMessageVisibilityBatch as ChangeMessageVisibility).
    moto 5.2 checks the batch names themselves: it denied every batch the stack's roles send."""
    sqs = world.client("sqs")
    queue = sqs.create_queue(QueueName="batches")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:eu-central-1:{ACCOUNT}:batches"
    singles = role(world, "batch-singles", [{"Effect": "Allow", "Resource": queue_arn, "Action": [
        "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]}])
    as_singles = world.client("sqs", world.role_credentials(singles, "singles-test"))
    sent = as_singles.send_message_batch(QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "a"},
                                                                  {"Id": "2", "MessageBody": "b"}])
    assert len(sent["Successful"]) == 2
    received = as_singles.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]
    as_singles.change_message_visibility_batch(QueueUrl=queue, Entries=[{**e, "VisibilityTimeout": 30} for e in entries])
    assert len(as_singles.delete_message_batch(QueueUrl=queue, Entries=entries)["Successful"]) == len(entries)

    # The other way: a policy naming only the batch "actions" allows nothing (IAM has none),
    # and a Deny of the single action denies its batch too.
    batch_names = role(world, "batch-names", [{"Effect": "Allow", "Resource": queue_arn, "Action": [
        "sqs:SendMessageBatch", "sqs:DeleteMessageBatch", "sqs:ChangeMessageVisibilityBatch", "sqs:ReceiveMessage"]}])
    as_names = world.client("sqs", world.role_credentials(batch_names, "names-test"))
    assert denied(lambda: as_names.send_message_batch(QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "a"}]))
    sqs.send_message(QueueUrl=queue, MessageBody="c")
    (message,) = as_names.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
    handle = [{"Id": "1", "ReceiptHandle": message["ReceiptHandle"]}]
    assert denied(lambda: as_names.delete_message_batch(QueueUrl=queue, Entries=handle))
    assert denied(lambda: as_names.change_message_visibility_batch(QueueUrl=queue, Entries=[{**handle[0], "VisibilityTimeout": 0}]))
    denying = role(world, "batch-denied", [{"Effect": "Allow", "Action": "sqs:*", "Resource": queue_arn},
                                           {"Effect": "Deny", "Action": "sqs:SendMessage", "Resource": queue_arn}])
    as_denied = world.client("sqs", world.role_credentials(denying, "denied-test"))
    assert denied(lambda: as_denied.send_message_batch(QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "a"}]))


def test_only_the_rehearsals_poller_receives_a_mapped_queues_messages(world):
    """moto would receive every message sent to a queue with a Lambda mapping itself (and try
    Docker), one receive more than Lambda makes: the redrive policy and the sender's give-up
    on the last receive would count it (aws_world._no_delivery_inside_moto)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    arn = role(world, "delivery-check", [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}])
    sqs, lam = world.client("sqs"), world.client("lambda")
    queue = sqs.create_queue(QueueName="delivery-check")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_function(FunctionName="delivery-check", Runtime="python3.11", Handler="handler.handler", Role=arn,
                        Code={"ZipFile": buffer.getvalue()})
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="delivery-check", BatchSize=10)

    sqs.send_message(QueueUrl=queue, MessageBody="hello")

    got = sqs.receive_message(QueueUrl=queue, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in got] == ["1"]
