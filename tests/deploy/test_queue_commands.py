"""replay_dead_letters against moto's SQS and the database."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command


def mapping(aws, uuid):
    return aws.client("lambda").get_event_source_mapping(UUID=uuid)


def _dlq_bodies(aws) -> list[str]:
    return sorted(m["Body"] for m in aws.receive(aws.dlq_url, wait=0))


def _delivery(status: str):
    from project.notifications.models import Delivery

    return Delivery.objects.create(channel=Delivery.Channel.TELEGRAM, method=Delivery.Method.SEND_MESSAGE,
                                   chat_id=1234, payload={"text": "hi"}, status=status, last_error="gave up")


def _drain(aws, queue_url) -> list[str]:
    bodies = []
    while batch := aws.receive(queue_url):
        bodies += [m["Body"] for m in batch]
        for m in batch:
            aws.client("sqs").delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_replay_puts_the_deliveries_back_and_leaves_what_would_only_fail_again(
    aws, db, django_capture_on_commit_callbacks
):
    from project.notifications.models import Delivery

    sqs = aws.client("sqs")
    failed = [_delivery(Delivery.Status.FAILED) for _ in range(11)]
    sent = _delivery(Delivery.Status.SENT)
    good = [json.dumps({"v": 1, "delivery_id": d.pk}) for d in [*failed, sent]]
    bad = ["not json", json.dumps({"v": 99, "delivery_id": failed[0].pk})]
    for body in [*good, *bad]:
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=body)

    out = io.StringIO()
    call_command("replay_dead_letters", dry_run=True, stdout=out)
    # --dry-run counts only what it would really replay: not the delivery already sent (issue 11 item 4).
    assert "Would replay 11 messages" in out.getvalue() and "Would remove 1 dead letters" in out.getvalue()
    assert aws.receive(aws.queue_url) == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"failed", "sent"}
    # A dry run leaves every message visible again at once.
    attributes = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "14"

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", stdout=out)
    text = out.getvalue()
    assert "Replayed 11 messages" in text
    assert f"already sent or is gone ({sent.pk})" in text
    assert "unknown body version 99" in text and "body is not JSON" in text
    for delivery in failed:
        delivery.refresh_from_db()
        assert delivery.status == "queued"
    sent.refresh_from_db()
    assert sent.status == "sent"
    enqueued = sorted(json.loads(b)["delivery_id"] for b in _drain(aws, aws.queue_url))
    assert enqueued == sorted(d.pk for d in failed)
    assert _dlq_bodies(aws) == sorted(bad)


def test_replay_with_a_limit(aws, db, django_capture_on_commit_callbacks):
    from project.notifications.models import Delivery

    sqs = aws.client("sqs")
    for _ in range(5):
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=json.dumps({"v": 1, "delivery_id": _delivery(Delivery.Status.FAILED).pk}))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", limit=2, stdout=io.StringIO())
    assert len(_drain(aws, aws.queue_url)) == 2
    attributes = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "3"
    assert Delivery.objects.filter(status="queued").count() == 2


def test_a_replay_the_queue_refuses_keeps_its_dead_letter_and_fails(aws, db, django_capture_on_commit_callbacks):
    """Issue 11 item 4: the outbox queue refuses (here: it is gone, as when the role may not
    SendMessage); each dead letter stays, the command says which and exits non-zero, and a
    run after the cause is fixed replays them."""
    from project.notifications.models import Delivery

    sqs = aws.client("sqs")
    failed = [_delivery(Delivery.Status.FAILED) for _ in range(2)]
    for delivery in failed:
        sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=json.dumps({"v": 1, "delivery_id": delivery.pk}))
    attributes = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    sqs.delete_queue(QueueUrl=aws.queue_url)

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(CommandError) as raised:
        call_command("replay_dead_letters", stdout=out)
    assert "2 dead letters could not be replayed and stay in the dead-letter queue" in str(raised.value)
    text = out.getvalue()
    for delivery in failed:
        assert f"Not replayed: delivery {delivery.pk}: the outbox queue did not take it; its dead letter stays" in text
    assert "Replayed 0 messages" in text
    # Both dead letters are still there, visible for the next run.
    attributes_now = sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes_now["Attributes"]["ApproximateNumberOfMessages"] == "2"

    # The cause fixed (the queue is back): the next run replays both and empties the DLQ.
    queue_url = sqs.create_queue(QueueName="outbox-test", Attributes={
        k: attributes[k] for k in ("VisibilityTimeout", "RedrivePolicy")})["QueueUrl"]
    assert queue_url == aws.queue_url
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_dead_letters", stdout=out)
    assert "Replayed 2 messages" in out.getvalue() and "Not replayed" not in out.getvalue()
    assert sorted(json.loads(b)["delivery_id"] for b in _drain(aws, aws.queue_url)) == sorted(d.pk for d in failed)
    assert _dlq_bodies(aws) == []
    for delivery in failed:
        delivery.refresh_from_db()
        assert delivery.status == "queued" and delivery.enqueued_at is not None


MAKE_STAGE_DATABASE = (
    "import django; django.setup()\n"
    "from django.core.management import call_command\n"
    "call_command('migrate', verbosity=0)\n"
    "from project.notifications.models import Delivery\n"
    "d = Delivery.objects.create(channel='telegram', method='sendMessage', chat_id=1234, payload={'text': 'hi'},\n"
    "                            status='failed', last_error='gave up')\n"
    "print(d.pk)\n"
)


def test_replay_takes_the_database_url_from_the_stage_secret(moto_server, tmp_path, monkeypatch):
    """Issue 11 item 4: the operator runs replay_dead_letters from a laptop with no
    DATABASE_URL; the command uses the stage secret's database_url (what the functions use),
    as docs/DEPLOY.md says. The stage's database is an SQLite file here (RDS from inside the
    VPC, or through a tunnel, in a real stage); the stage's rendered settings, queues and
    secrets are in moto; the command runs in its own process, as the operator types it."""
    import os
    import sqlite3
    import subprocess
    import sys

    import httpx

    from infra.stages import config as stage_config
    from infra.stages import render
    from project.core.aws import client, reset_clients

    from .zappa_stages import BASE_DIR, outputs

    httpx.post(f"{moto_server}/moto-api/reset")
    reset_clients()
    sqs, sm = client("sqs"), client("secretsmanager")
    dlq_url = sqs.create_queue(QueueName="meetups-dev-outbox-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName="meetups-dev-outbox", Attributes={"VisibilityTimeout": "360", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "8"})})["QueueUrl"]
    stages_dir = tmp_path / "stages"
    monkeypatch.setenv("STAGE_SETTINGS_DIR", str(stages_dir))
    render.write(stage_config.load("dev"), {**outputs("dev"), "OutboxQueueUrl": queue_url, "OutboxDeadLetterQueueUrl": dlq_url})

    database = tmp_path / "stage.sqlite3"
    made = subprocess.run([sys.executable, "-c", MAKE_STAGE_DATABASE], cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{database}",
                               "DJANGO_SETTINGS_MODULE": "project.settings"})
    assert made.returncode == 0, made.stderr
    delivery_id = int(made.stdout.split()[-1])
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"v": 1, "delivery_id": delivery_id}))
    sm.create_secret(Name="meetups/dev/bot-token", SecretString=json.dumps({"telegram_bot_token": "7000000101:AAH-dev-token-for-this-test-not-a-secret-00"}))
    stage_values = {"telegram_webhook_secret": "w" * 40, "django_secret_key": "k" * 50}
    sm.create_secret(Name="meetups/dev", SecretString=json.dumps(stage_values))

    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "STAGE": "dev", "STAGE_SETTINGS_DIR": str(stages_dir),
           "AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    command = [sys.executable, "manage.py", "replay_dead_letters", "--settings=infra.aws.operator_settings"]

    # No database_url in the secret yet (and none given): it says what to do and touches nothing.
    answer = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode != 0
    assert "Replaying needs the stage's database" in answer.stderr and "database_url in the stage secret" in answer.stderr
    assert sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "1"

    # What database_setup writes there: the command finds it.
    sm.put_secret_value(SecretId="meetups/dev", SecretString=json.dumps({**stage_values, "database_url": f"sqlite:///{database}"}))
    answer = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert f"Replayed 1 messages (deliveries {delivery_id})." in answer.stdout
    with sqlite3.connect(database) as connection:
        (status,) = connection.execute("SELECT status FROM notifications_delivery WHERE id = ?", (delivery_id,)).fetchone()
    assert status == "queued"
    (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["delivery_id"] == delivery_id
    assert sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0"
    reset_clients()
