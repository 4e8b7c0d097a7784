"""
The commands that need the stage's private database run in the manage function, and its role
lets them: the stack deployed into moto with IAM enforced (the rehearsal's AwsWorld:
INITIAL_NO_AUTH_ACTION_COUNT 0, infra/rehearse/moto_iam.py's corrections), each call signed
with credentials from sts:AssumeRole on the function's own role, as Lambda gives them.

- The manage role may receive, delete and change the visibility of the dead letters and send
  to the outbox queue, and nothing else on the queues; the site and webhook roles may not
  touch the dead letters.
- replay_dead_letters runs through Zappa's own handler (`{"manage": ...}`, what `zappa manage
  <stage>_manage ...` invokes) with exactly the manage function's environment from the
  rendered settings and the manage role's credentials; its result is in the last 4 KB of the
  invocation's log, which is all `zappa manage` prints.
- retry_updates runs there too (it handles updates as the webhook does: database and outbox).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import pytest
from botocore.exceptions import ClientError

from . import zappa_stages
from .test_queue_commands import MAKE_STAGE_DATABASE
from .zappa_stages import BASE_DIR

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

# What Lambda writes after the function's own output in the log it returns (`zappa manage`
# prints the last 4 KB of it).
END_AND_REPORT = (
    "END RequestId: 8f507cfc-0000-4000-8000-000000000000\n"
    "REPORT RequestId: 8f507cfc-0000-4000-8000-000000000000\tDuration: 2211.41 ms\tBilled Duration: 2212 ms\t"
    "Memory Size: 1024 MB\tMax Memory Used: 161 MB\tInit Duration: 1450.12 ms\t\n"
)
LOG_TAIL = 4096

RUN_MANAGE = """
import importlib, json, sys
class Context:
    aws_request_id = "8f507cfc-0000-4000-8000-000000000000"
    function_name = "meetups-dev-manage"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:meetups-dev-manage"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/meetups-dev-manage"
    def get_remaining_time_in_millis(self):
        return 900000
module, _, name = sys.argv[1].rpartition(".")
handler = getattr(importlib.import_module(module), name)  # the function's configured handler
for event in sys.argv[2:]:  # one warm container, one event after the other
    print(json.dumps(handler(json.loads(event), Context())))
"""


@pytest.fixture(scope="module")
def world(moto_server, tmp_path_factory):
    """moto with IAM enforced and the dev stage's stack in it (deployed with the operator's keys)."""
    import httpx

    from infra.rehearse.aws_world import AwsWorld
    from infra.stages import config, stack
    from project.core.aws import reset_clients

    # The session's moto server shares moto's backends with this one (one process): start clean.
    httpx.post(f"{moto_server}/moto-api/reset")
    started = AwsWorld().start()
    stages_dir = tmp_path_factory.mktemp("stages")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", started.endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", started.operator.access_key_id)
        patch.setenv("AWS_SECRET_ACCESS_KEY", started.operator.secret_access_key)
        patch.setenv("STAGE_SETTINGS_DIR", str(stages_dir))
        reset_clients()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                started.outputs = stack.deploy(config.load("dev"), poll_seconds=0, say=lambda line: None).outputs
            started.rendered = json.loads((stages_dir / "dev" / "zappa_settings.json").read_text())
            yield started
        finally:
            started.stop()
            reset_clients()
    httpx.post(f"{moto_server}/moto-api/reset")


def denied(call) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403 or "AccessDenied" in str(exc)
    return False


def as_role(world, kind: str, service: str):
    keys = world.role_credentials(world.outputs[f"{kind.capitalize()}RoleArn"], f"{kind}-test")
    return world.client(service, keys)


def _count(world, queue_url: str) -> int:
    attributes = world.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def _empty(world, *queue_urls: str) -> None:
    """Delete every message (PurgeQueue allows one call a minute per queue)."""
    sqs = world.client("sqs")
    for url in queue_urls:
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
                "Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_the_manage_role_may_do_exactly_what_replay_needs_on_the_queues(world):
    outbox, dlq = world.outputs["OutboxQueueUrl"], world.outputs["OutboxDeadLetterQueueUrl"]
    _empty(world, outbox, dlq)
    operator = world.client("sqs")
    operator.send_message(QueueUrl=dlq, MessageBody="a dead letter")
    operator.send_message(QueueUrl=outbox, MessageBody="an outbox message")

    sqs = as_role(world, "manage", "sqs")
    (letter,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1, VisibilityTimeout=300)["Messages"]
    sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=letter["ReceiptHandle"], VisibilityTimeout=0)
    sqs.send_message(QueueUrl=outbox, MessageBody="replayed")
    sqs.send_message_batch(QueueUrl=outbox, Entries=[{"Id": "1", "MessageBody": "replayed too"}])
    (letter,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1)["Messages"]
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=letter["ReceiptHandle"])
    assert _count(world, dlq) == 0

    # Nothing else on the queues: not the sender's side of the outbox, not writing dead letters.
    assert denied(lambda: sqs.send_message(QueueUrl=dlq, MessageBody="x"))
    assert denied(lambda: sqs.receive_message(QueueUrl=outbox))
    assert denied(lambda: sqs.purge_queue(QueueUrl=dlq))
    assert denied(lambda: sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"]))
    assert denied(lambda: sqs.delete_queue(QueueUrl=dlq))
    assert denied(lambda: sqs.list_queues())
    # Nor the bot token.
    secrets = as_role(world, "manage", "secretsmanager")
    assert denied(lambda: secrets.get_secret_value(SecretId=world.outputs["BotTokenSecretName"]))


@pytest.mark.parametrize("kind", ["site", "webhook"])
def test_the_site_and_webhook_roles_cannot_touch_the_dead_letters(world, kind):
    outbox, dlq = world.outputs["OutboxQueueUrl"], world.outputs["OutboxDeadLetterQueueUrl"]
    _empty(world, dlq)
    world.client("sqs").send_message(QueueUrl=dlq, MessageBody="a dead letter")
    (receipt,) = [m["ReceiptHandle"] for m in world.client("sqs").receive_message(
        QueueUrl=dlq, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"]]
    sqs = as_role(world, kind, "sqs")
    assert denied(lambda: sqs.receive_message(QueueUrl=dlq))
    assert denied(lambda: sqs.delete_message(QueueUrl=dlq, ReceiptHandle=receipt))
    assert denied(lambda: sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=receipt, VisibilityTimeout=0))
    assert denied(lambda: sqs.send_message(QueueUrl=dlq, MessageBody="x"))
    assert _count(world, dlq) == 1
    # What they do need still works (the control): enqueue to the outbox.
    sqs.send_message_batch(QueueUrl=outbox, Entries=[{"Id": "1", "MessageBody": "enqueued"}])


def _manage_function(world, tmp_path, *commands: str | dict, extra_env: dict | None = None) -> tuple[int, str]:
    """`zappa manage dev_manage "<command>"` as Lambda runs it: the function's handler in a
    process with exactly the manage function's environment and its role's credentials (a
    dict is an event as it is, e.g. what `zappa invoke` sends). Returns the exit status and
    the log tail `zappa manage` would print."""
    package = tmp_path / "package"
    package.mkdir(exist_ok=True)
    (package / "zappa_settings.py").write_text(zappa_stages.load("dev_manage").get_zappa_settings_string())
    keys = world.role_credentials(world.outputs["ManageRoleArn"], "manage-function")
    function = world.rendered["dev_manage"]
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": f"{package}:{BASE_DIR}",
        **function["aws_environment_variables"],
        # What Lambda adds.
        "AWS_REGION": function["aws_region"], "AWS_DEFAULT_REGION": function["aws_region"],
        "AWS_LAMBDA_FUNCTION_NAME": "meetups-dev-manage", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", **keys.env(),
        # moto instead of AWS's regional endpoints.
        "AWS_ENDPOINT_URL": world.endpoint,
    }
    assert "DATABASE_URL" not in env  # from the stage secret, as in the function
    env.update(extra_env or {})
    events = [json.dumps(c if isinstance(c, dict) else {"manage": c}) for c in commands]
    answer = subprocess.run([sys.executable, "-c", RUN_MANAGE, function["lambda_handler"], *events], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    return answer.returncode, (answer.stdout + END_AND_REPORT)[-LOG_TAIL:]


@pytest.fixture
def stage_database(world, tmp_path):
    """The stage's database (an SQLite file standing in for RDS) with one failed delivery, and
    its URL in the stage secret, where create_database puts it."""
    database = tmp_path / "stage.sqlite3"
    made = subprocess.run([sys.executable, "-c", MAKE_STAGE_DATABASE], cwd=BASE_DIR, capture_output=True, text=True,
                          timeout=120, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                            "DATABASE_URL": f"sqlite:///{database}",
                                            "DJANGO_SETTINGS_MODULE": "project.settings"})
    assert made.returncode == 0, made.stderr
    world.client("secretsmanager").put_secret_value(SecretId=world.outputs["SecretName"], SecretString=json.dumps({
        "telegram_webhook_secret": "w" * 40, "django_secret_key": "k" * 50, "database_url": f"sqlite:///{database}"}))
    _empty(world, world.outputs["OutboxQueueUrl"], world.outputs["OutboxDeadLetterQueueUrl"])
    return database, int(made.stdout.split()[-1])


def test_replay_runs_in_the_manage_function_and_its_result_is_in_the_log_tail(world, tmp_path, stage_database):
    import sqlite3

    database, delivery_id = stage_database
    outbox, dlq = world.outputs["OutboxQueueUrl"], world.outputs["OutboxDeadLetterQueueUrl"]
    operator = world.client("sqs")
    operator.send_message(QueueUrl=dlq, MessageBody=json.dumps({"v": 1, "delivery_id": delivery_id}))
    # Many it cannot read: their lines must not push the result out of the 4 KB tail.
    for n in range(60):
        operator.send_message(QueueUrl=dlq, MessageBody=f"not json {n}")

    status, tail = _manage_function(world, tmp_path, "replay_dead_letters --dry-run")
    assert status == 0, tail
    assert f"Would replay 1 messages (deliveries {delivery_id})." in tail
    assert "Left in the dead-letter queue: 55 more (each one is in the log)." in tail
    assert "\x1b[" not in tail  # no colour codes in the console's log
    # A dry run left every dead letter visible at once (ChangeMessageVisibility), so the real
    # run right after it sees them all.
    status, tail = _manage_function(world, tmp_path, "replay_dead_letters")
    assert status == 0, tail
    assert f"Replayed 1 messages (deliveries {delivery_id})." in tail
    with sqlite3.connect(database) as connection:
        (state,) = connection.execute("SELECT status FROM notifications_delivery WHERE id = ?", (delivery_id,)).fetchone()
    assert state == "queued"
    (message,) = operator.receive_message(QueueUrl=outbox, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["delivery_id"] == delivery_id
    assert _count(world, dlq) == 60  # the unreadable ones stay, visible for the console


def test_a_failed_replay_in_the_manage_function_says_so_in_the_log_tail(world, tmp_path, stage_database):
    """The outbox queue refuses (here: it is gone): the function fails (so `zappa manage`
    exits non-zero), and the tail still holds what was not replayed and the totals, before
    Lambda's own error lines."""
    _database, delivery_id = stage_database
    dlq, outbox = world.outputs["OutboxDeadLetterQueueUrl"], world.outputs["OutboxQueueUrl"]
    operator = world.client("sqs")
    for _ in range(20):
        operator.send_message(QueueUrl=dlq, MessageBody=json.dumps({"v": 1, "delivery_id": delivery_id}))
    attributes = operator.get_queue_attributes(QueueUrl=outbox, AttributeNames=["All"])["Attributes"]
    operator.delete_queue(QueueUrl=outbox)
    try:
        status, tail = _manage_function(world, tmp_path, "replay_dead_letters")
    finally:
        operator.create_queue(QueueName=outbox.rsplit("/", 1)[1], Attributes={
            k: attributes[k] for k in ("VisibilityTimeout", "RedrivePolicy", "MessageRetentionPeriod")})
    assert status != 0
    assert f"Not replayed: delivery {delivery_id}: the outbox queue did not take it; its dead letter stays" in tail
    assert "Replayed 0 messages." in tail
    assert "dead letters could not be replayed and stay in the dead-letter queue" in tail
    assert _count(world, dlq) == 20


def test_retry_updates_runs_in_the_manage_function(world, tmp_path, stage_database):
    """An update whose handling failed, handled again in the manage function: its reply goes
    through the outbox (SendMessage under the manage role), as the webhook's would."""
    import sqlite3

    database, _delivery_id = stage_database
    update = {"update_id": 880001, "message": {
        "message_id": 7, "date": int(time.time()), "chat": {"id": 5550001, "type": "private"},
        "from": {"id": 5550001, "is_bot": False, "first_name": "Tess"}, "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO bot_storedupdate (update_id, kind, status, error, payload, attempts, received_at)"
            " VALUES (?, 'message', 'failed', 'a dependency was down', ?, 1, datetime('now'))",
            (update["update_id"], json.dumps(update)))

    status, tail = _manage_function(world, tmp_path, "retry_updates --list")
    assert status == 0, tail
    assert "880001 message failed attempts=1: a dependency was down" in tail
    status, tail = _manage_function(world, tmp_path, "retry_updates")
    assert status == 0, tail
    assert "retried 1, failed again 0" in tail
    with sqlite3.connect(database) as connection:
        (state,) = connection.execute("SELECT status FROM bot_storedupdate WHERE update_id = 880001").fetchone()
        chats = [row[0] for row in connection.execute("SELECT chat_id FROM notifications_delivery WHERE status = 'queued'")]
    assert state == "handled"
    assert 5550001 in chats
    bodies = [json.loads(m["Body"]) for m in world.client("sqs").receive_message(
        QueueUrl=world.outputs["OutboxQueueUrl"], MaxNumberOfMessages=10)["Messages"]]
    assert bodies and all(b["v"] == 1 for b in bodies)


@pytest.fixture
def fresh_instance():
    """A PostgreSQL cluster of its own, as the stack's RDS instance (the rehearsal's
    infra/rehearse/rds.py: master user and password, TLS only), with no database_url yet."""
    import socket
    import tempfile
    from pathlib import Path

    from infra.rehearse.network import CertificateAuthority
    from infra.rehearse.rds import RdsInstance

    from infra.rehearse import rds as rds_module

    try:
        rds_module._bin("initdb")
    except RuntimeError as exc:
        pytest.skip(str(exc))
    directory = Path(tempfile.mkdtemp(prefix="meetups-rds-test-"))
    directory.chmod(0o755)  # the postgres user runs the cluster in it
    with socket.socket() as probe:
        probe.bind(("127.0.0.3", 0))
        port = probe.getsockname()[1]
    ca = CertificateAuthority(directory / "ca")
    rds = RdsInstance(address="127.0.0.3", data_dir=directory / "pg")
    rds.start("127.0.0.3", port, "meetups_admin", "master-password-1", ca.files_for("127.0.0.3"))
    try:
        yield f"postgres://meetups_admin:master-password-1@127.0.0.3:{port}/postgres?sslmode=verify-full&sslrootcert={ca.ca_file}"
    finally:
        rds.stop()
        import shutil

        shutil.rmtree(directory, ignore_errors=True)


def test_the_database_is_created_in_the_manage_function_before_any_database_url(world, tmp_path, fresh_instance):
    """docs/DEPLOY.md step 6 on a new stage: `zappa invoke dev_manage
    project.ops.database_setup.handler` while the stage secret has no database_url. Zappa's
    handler would set Django up first, whose settings need database_url: the manage
    function's handler runs the set-up without Django, and the next command in the same warm
    container (then again after a re-run, which gives the role a new password) connects."""
    secret = world.outputs["SecretName"]
    world.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=json.dumps(
        {"telegram_webhook_secret": "w" * 40, "django_secret_key": "k" * 50}))
    setup = {"command": "project.ops.database_setup.handler"}
    status, tail = _manage_function(world, tmp_path, setup, "showmigrations sites", setup, "showmigrations sites",
                                    extra_env={"DATABASE_ADMIN_URL": fresh_instance})
    assert status == 0, tail
    assert "database meetups (created), user meetups_app (created), TLS verify-full" in tail
    assert "database meetups (kept), user meetups_app (new password)" in tail
    assert tail.count("[ ] 0001_initial") == 2  # connected as meetups_app, both times
    url = json.loads(world.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])["database_url"]
    assert url.startswith("postgres://meetups_app:") and "/meetups?sslmode=verify-full" in url
