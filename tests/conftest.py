"""
Fixtures for the whole suite, and one check over all of it: no bot token, webhook secret or
client secret may appear in any log record or in any response body the site produces, and
no live sign-in token (link, code, state, /start token, login hash) in any log record, nor
(but for the two a page carries on purpose, BODY_TOKEN_SHAPES) in any response body.
"""

from __future__ import annotations

import logging
import re

import pytest

# The Telegram sandbox's fixtures (telegram_sandbox_server, telegram_sandbox).
import importlib.util

pytest_plugins = [
    plugin
    for plugin in ["infra.local.telegram_sandbox.pytest_plugin"]
    if importlib.util.find_spec(plugin) is not None
]

FOREIGN_BOT_TOKEN = "7000000002:AAH-foreign-sandbox-token-not-a-secret-02"


def secret_values() -> list[str]:
    from django.conf import settings

    from project.core import secrets

    values = {FOREIGN_BOT_TOKEN}
    for key in ("telegram_bot_token", "telegram_webhook_secret", "telegram_oidc_client_secret"):
        values.add(secrets.get_secret(key, required=False) or settings.LOCAL_SECRETS[key])
    return sorted(v for v in values if v)


# Live one-time tokens are not known in advance: they are recognised by where they sit (an
# email sign-in link's path, a token-carrying URL parameter, a /start argument), and must
# reach handlers only as "[redacted]" (project/core/logging.py).
TOKEN_SHAPES = [
    re.compile(r"/login/link/(?!\[redacted\])[^/?#\s'\"<>]+"),
    re.compile(
        r"[?&#](?:code|state|start|startapp|hash|signature|tgAuthResult|tgWebAppData|id_token|access_token)="
        r"(?!\[redacted\])[^&#\s'\"<>]+"
    ),
    re.compile(r"/start(?:@\w+)?[ \t]+(?!\[redacted\])[A-Za-z0-9_-]{16,}"),
]


# The same in the pages the site serves, but for two tokens that pages carry on purpose: the
# account page hands its owner the bot's deep link (`?start=`), and the legacy sign-in's
# callback page posts back its session-bound `state`. A `/start <token>` command (a stored
# update on the admin's pages), a sign-in link or Telegram's one-use signed fields are never
# on a page, except sign-in links in the local mail viewer, which exists to show the mail.
BODY_TOKEN_SHAPES = [
    TOKEN_SHAPES[2],
    re.compile(r"(?:[?&#]|&amp;)(?:code|hash|signature|tgAuthResult|tgWebAppData|id_token|access_token)="
               r"(?!\[redacted\])[^&#\s'\"<>]+"),
    TOKEN_SHAPES[0],
]
LOCAL_MAIL_VIEWER = "/dev/mail/"


def tokens_in_body(path: str, body: str) -> list[str]:
    """What a response body for `path` carries that it must not: a live one-use token's shape."""
    shapes = BODY_TOKEN_SHAPES[:2] if path.startswith(LOCAL_MAIL_VIEWER) else BODY_TOKEN_SHAPES
    return [f"live token ({shape.pattern[:40]}...)" for shape in shapes if shape.search(body)][:1]


class LeakCollector(logging.Handler):
    """Sees every record at every level and remembers those that carry a secret or a token."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.secrets: list[str] = []
        self.leaks: list[str] = []

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:
            text = str(record.msg)
        shown = text + (record.exc_text or "")  # what a handler prints (traceback redacted)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            text += record.exc_text
        for value in self.secrets:
            if value in text:
                self.leaks.append(f"log record {record.name}:{record.levelname}: {text[:300]!r}")
        for shape in TOKEN_SHAPES:
            if shape.search(shown):
                self.leaks.append(f"token in log record {record.name}:{record.levelname}: {shown[:300]!r}")
                break


_collector = LeakCollector()


@pytest.fixture(scope="session", autouse=True)
def _watch_for_secret_leaks():
    from django.core.handlers.base import BaseHandler

    _collector.secrets = secret_values()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(_collector)
    root.setLevel(logging.DEBUG)
    # PTB and httpx log the Bot API URL (which holds the token) at DEBUG: listen there too.
    watched = [logging.getLogger(name) for name in ("telegram", "httpx", "httpcore")]
    watched_levels = [logger.level for logger in watched]
    for logger in watched:
        logger.setLevel(logging.DEBUG)

    original_get_response = BaseHandler.get_response

    def get_response(self, request):
        response = original_get_response(self, request)
        if not getattr(response, "streaming", False):
            body = response.content.decode("utf-8", "replace")
            for value in _collector.secrets:
                if value in body:
                    _collector.leaks.append(f"response body of {request.method} {request.path}")
            _collector.leaks.extend(f"{leak} in response body of {request.method} {request.path}"
                                    for leak in tokens_in_body(request.path, body))
        return response

    BaseHandler.get_response = get_response
    yield
    BaseHandler.get_response = original_get_response
    root.removeHandler(_collector)
    root.setLevel(previous_level)
    for logger, level in zip(watched, watched_levels):
        logger.setLevel(level)


@pytest.fixture(autouse=True)
def _no_secret_in_this_test():
    start = len(_collector.leaks)
    yield
    leaks = _collector.leaks[start:]
    assert not leaks, "A secret appeared where it must not:\n" + "\n".join(leaks)


@pytest.fixture(autouse=True)
def _fresh_secrets_cache():
    """Each test starts from the environment it sets up (e.g. moto's Secrets Manager)."""
    from project.core import secrets

    secrets.reset_cache()
    yield
    secrets.reset_cache()


# --- AWS through moto's server ------------------------------------------------------------
#
# moto in server mode rather than in-process decorators: the sender tests run several
# sender processes at once, and they must all see the same queue.


@pytest.fixture(scope="session")
def moto_server():
    import os

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-central-1"
    )
    yield url
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class AwsStage:
    """The stage's AWS resources in moto: the outbox queue, its dead-letter queue, the secret."""

    def __init__(self, endpoint: str, queue_url: str, dlq_url: str, secret_name: str):
        self.endpoint = endpoint
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.secret_name = secret_name

    def client(self, service: str):
        from project.core.aws import client

        return client(service)

    def receive(self, queue_url: str | None = None, max_messages: int = 10, wait: int = 0) -> list[dict]:
        answer = self.client("sqs").receive_message(
            QueueUrl=queue_url or self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
        )
        return answer.get("Messages", [])

    def put_secret(self, **values) -> None:
        """Replace the stage's secrets; the bot token goes to its own secret, as deployed."""
        import json

        token = {k: values.pop(k) for k in ("telegram_bot_token",) if k in values}
        self.client("secretsmanager").put_secret_value(SecretId=self.secret_name, SecretString=json.dumps(values))
        if token:
            self.client("secretsmanager").put_secret_value(
                SecretId=f"{self.secret_name}/bot-token", SecretString=json.dumps(token)
            )


@pytest.fixture
def aws(moto_server, settings):
    """A fresh stage in moto for each test; settings point at it (secrets still from env unless switched)."""
    import json

    import httpx

    from project.core.aws import client, reset_clients

    httpx.post(f"{moto_server}/moto-api/reset")
    reset_clients()
    sqs = client("sqs")
    dlq_url = sqs.create_queue(QueueName="outbox-test-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="outbox-test",
        Attributes={
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    secret_name = "site/test"
    token_key = "telegram_bot_token"
    client("secretsmanager").create_secret(
        Name=secret_name,
        SecretString=json.dumps({k: v for k, v in settings.LOCAL_SECRETS.items() if k != token_key}),
    )
    client("secretsmanager").create_secret(
        Name=f"{secret_name}/bot-token", SecretString=json.dumps({token_key: settings.LOCAL_SECRETS[token_key]})
    )
    settings.OUTBOX_QUEUE_URL = queue_url
    settings.OUTBOX_DLQ_URL = dlq_url
    settings.SECRETS_NAME = secret_name
    settings.BOT_TOKEN_SECRET_NAME = f"{secret_name}/bot-token"
    yield AwsStage(moto_server, queue_url, dlq_url, secret_name)
    reset_clients()


# --- The Telegram sandbox, with the site's settings pointing at it ------------------------


@pytest.fixture
def sandbox(telegram_sandbox, settings):
    """The running sandbox (fresh state) and the site configured to use it for the Bot API and sign-in."""
    settings.TELEGRAM_API_BASE_URL = telegram_sandbox.url
    settings.TELEGRAM_OAUTH_BASE_URL = telegram_sandbox.url
    settings.TELEGRAM_DEEP_LINK_BASE = telegram_sandbox.url  # its /<bot>?start= page stands in for t.me
    return telegram_sandbox


@pytest.fixture(autouse=True)
def _fresh_cache():
    """allauth's rate limits and used sign-in data live in the cache: each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
