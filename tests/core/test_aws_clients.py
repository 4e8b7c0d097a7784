"""Every AWS call is bounded in time (issue 10, fix 6).

An endpoint that accepts a connection and never answers is the worst case: without
timeouts botocore waits 60 s per read and retries, which held the webhook for over 40 s,
past its 20 s function timeout. Here a socket server plays that endpoint for real.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from project.core import aws
from tests.deploy import zappa_stages


class BlackHole:
    """Accepts TCP connections, reads what comes, never answers; counts the connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)  # held open, never written to

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self.connections:
            conn.close()
        self.sock.close()


@pytest.fixture
def black_hole(monkeypatch):
    hole = BlackHole()
    monkeypatch.setenv("AWS_ENDPOINT_URL", hole.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset_clients()
    yield hole
    aws.reset_clients()
    hole.close()


def shortest_function_timeout() -> int:
    return min(zappa_stages.load(f"dev_{kind}").stage_config["timeout_seconds"] for kind in zappa_stages.KINDS)


def test_every_client_has_connect_and_read_timeouts_and_bounded_retries():
    aws.reset_clients()
    for service in ("sqs", "secretsmanager", "ses"):
        config = aws.client(service).meta.config
        assert config.connect_timeout == aws.CONNECT_TIMEOUT
        assert config.read_timeout == aws.READ_TIMEOUT
        assert config.retries == {"mode": "standard", "total_max_attempts": aws.MAX_ATTEMPTS}
    # The worst case of one call stays under half the shortest function timeout (the webhook's).
    assert aws.worst_case_seconds() < shortest_function_timeout() / 2
    aws.reset_clients()


def test_lambda_invoke_waits_for_the_function_and_is_never_retried():
    """Invoke answers when the function is done (doctor's check in the site function takes
    seconds), and a retried Invoke would run the function again."""
    aws.reset_clients()
    config = aws.client("lambda").meta.config
    assert config.read_timeout == aws.LAMBDA_INVOKE_TIMEOUT
    assert config.connect_timeout == aws.CONNECT_TIMEOUT
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    aws.reset_clients()


def test_the_email_backend_uses_the_same_rules_and_the_aws_endpoint(settings, monkeypatch):
    from project.core.aws_mail import SESBackend

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    backend = SESBackend()
    backend.open()
    config = backend.connection.meta.config
    assert (config.connect_timeout, config.read_timeout) == (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT)
    assert config.retries["total_max_attempts"] == aws.MAX_ATTEMPTS
    assert backend.connection.meta.endpoint_url == "http://127.0.0.1:9"


def test_a_call_to_an_endpoint_that_never_answers_gives_up_within_the_bound(black_hole):
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    started = time.monotonic()
    with pytest.raises((ReadTimeoutError, ConnectTimeoutError)):
        aws.client("sqs").send_message(QueueUrl=f"{black_hole.url}/123456789012/outbox", MessageBody="x")
    elapsed = time.monotonic() - started
    assert elapsed < aws.worst_case_seconds() + 1  # scheduling slack, not a performance claim
    # Retried, but a bounded number of times: one connection per attempt.
    assert len(black_hole.connections) == aws.MAX_ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_the_webhook_answers_within_its_timeout_when_sqs_never_answers(black_hole, settings):
    """The update is stored and answered; its reply stays in the outbox for the sweep."""
    from project.notifications.models import Delivery
    from tests.bot.conftest import call, make_user, message_update

    settings.OUTBOX_QUEUE_URL = f"{black_hole.url}/123456789012/meetups-dev-outbox"
    # The reply through the outbox (not in the webhook's own answer), so SQS is called.
    settings.TELEGRAM_WEBHOOK_ANSWERS = False
    make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    started = time.monotonic()
    answer = call(message_update(4242, "/help"))
    elapsed = time.monotonic() - started
    assert answer["statusCode"] == 200
    assert black_hole.connections, "the reply was not enqueued at all: the test would prove nothing"
    webhook_timeout = zappa_stages.load("dev_webhook").stage_config["timeout_seconds"]
    assert elapsed < webhook_timeout / 2
    replies = Delivery.objects.filter(chat_id=4242)
    assert replies and all(d.enqueued_at is None for d in replies)
