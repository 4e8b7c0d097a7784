"""The suite-wide leak check itself must be able to fail."""

import logging

from tests.conftest import LeakCollector, secret_values


def test_collector_catches_a_token_in_a_log_record():
    collector = LeakCollector()
    collector.secrets = secret_values()
    token = collector.secrets[0]
    logger = logging.getLogger("tests.leak")
    logger.addHandler(collector)
    try:
        # Build the record by hand: the project's record factory would redact it first.
        record = logging.LogRecord("tests.leak", logging.ERROR, __file__, 1, "url=%s", (token,), None)
        collector.handle(record)
    finally:
        logger.removeHandler(collector)
    assert collector.leaks and "tests.leak" in collector.leaks[0]


def test_records_are_redacted_at_creation(caplog):
    from project.core.secrets import get_secret

    token = get_secret("telegram_bot_token")
    webhook_secret = get_secret("telegram_webhook_secret")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("telegram.ext").debug("POST https://api/bot%s/getMe secret=%s", token, webhook_secret)
    text = caplog.records[-1].getMessage()
    assert token not in text and webhook_secret not in text
    assert "[redacted]" in text


def test_token_shaped_strings_are_redacted_even_when_unknown():
    from project.core.logging import redact

    assert "123456789:AAbbccddeeffgghhiijjkkllmmnnooppqqr" not in redact(
        "https://api.telegram.org/bot123456789:AAbbccddeeffgghhiijjkkllmmnnooppqqr/getMe"
    )


# --- tokens in paths and query strings (issue 12 item 3) ------------------------------------

import pytest  # noqa: E402
from django.test import Client  # noqa: E402

from tests.accounts.helpers import last_sign_in_email, request_sign_in  # noqa: E402

EMAIL_TOKEN = "Zk3vQpL0x8W2nYc7R4tB9sD1fG6hJ5kM0aE3iO8uY2w"  # the shape of a sign-in link token
START_TOKEN = "b7Kq2Xv9LmN4pR8sT1wY6zA3cE5gH0jU"  # secrets.token_urlsafe(24)


def all_log_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


@pytest.mark.parametrize(
    "line, secret",
    [
        (f"Method Not Allowed (OPTIONS): /accounts/login/link/{EMAIL_TOKEN}/", EMAIL_TOKEN),
        (f"Forbidden (CSRF cookie not set.): /accounts/login/link/{EMAIL_TOKEN}/", EMAIL_TOKEN),
        (f"GET https://site.example/accounts/login/link/{EMAIL_TOKEN}/?next=/x", EMAIL_TOKEN),
        (f"https://t.me/site_local_bot?start={START_TOKEN}", START_TOKEN),
        (f"message: /start {START_TOKEN}", START_TOKEN),
        (f"message: /start@site_local_bot {START_TOKEN}", START_TOKEN),
        ("GET /accounts/oidc/telegram-oidc/login/callback/?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj", "SplxlOBeZQQYbYS6WxSbIA"),
        ("GET /accounts/oidc/telegram-oidc/login/callback/?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj", "af0ifjsldkj"),
        ("return_to=http%3A%2F%2Fsite%2Fcallback%2F%3Fstate%3DQx7Yw2Lm9Kp4 sent", "Qx7Yw2Lm9Kp4"),
        ("GET /tg/login/?id=5&auth_date=1700000000&hash=8f2c9e1d4b7a6c3e5f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e", "8f2c9e1d4b7a"),
        ("GET /tg/app/?tgWebAppData=query_id%3DAAH%26user%3D%257B%257D%26auth_date%3D1%26hash%3Dabcdef0123456789", "abcdef0123456789"),
        ("GET /tg/app/?user=1&signature=Zm9vYmFyYmF6cXV4cXV1eA-_&auth_date=1", "Zm9vYmFyYmF6cXV4cXV1eA-_"),
        ("callback #tgAuthResult=eyJpZCI6NTAwMTAwLCJoYXNoIjoiYWJjIn0", "eyJpZCI6NTAwMTAwLCJoYXNoIjoiYWJjIn0"),
        ("extra_data={'id': 5, 'hash': 'c0ffee00c0ffee00c0ffee00', 'auth_date': 1}", "c0ffee00c0ffee00c0ffee00"),
        ('token response {"access_token": "at-9f8e7d6c5b4a", "id_token": "eyJhbGciOi.eyJpc3Mi.c2ln"}', "at-9f8e7d6c5b4a"),
        ('token response {"access_token": "at-9f8e7d6c5b4a", "id_token": "eyJhbGciOi.eyJpc3Mi.c2ln"}', "eyJhbGciOi.eyJpc3Mi.c2ln"),
    ],
)
def test_tokens_in_paths_query_strings_and_commands_are_redacted(caplog, line, secret):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("django.request").warning("%s", line)
    text = caplog.records[-1].getMessage()
    assert secret not in text
    assert "[redacted]" in text


def test_what_is_not_a_token_stays_readable():
    from project.core.logging import redact

    for line in [
        "Not Found: /meetups/12/",
        "GET /staff/inbox/?status=open&page=2",
        "handled /start for user 5",
        "webhook: update 500000001 (message) handled",
        "Email sign-in link refused: expired",
    ]:
        assert redact(line) == line


@pytest.mark.django_db
def test_a_405_on_a_sign_in_link_logs_no_token(caplog):
    client = Client()
    request_sign_in(client, "ada@example.com")
    token = last_sign_in_email().token
    with caplog.at_level(logging.DEBUG):
        response = Client().options(f"/accounts/login/link/{token}/")
    assert response.status_code == 405
    text = all_log_text(caplog)
    assert "Method Not Allowed" in text and token not in text


@pytest.mark.django_db
def test_a_csrf_failure_on_a_sign_in_link_logs_no_token(caplog):
    request_sign_in(Client(), "ada@example.com")
    token = last_sign_in_email().token
    with caplog.at_level(logging.DEBUG):
        response = Client(enforce_csrf_checks=True).post(f"/accounts/login/link/{token}/")
    assert response.status_code == 403
    text = all_log_text(caplog)
    assert "CSRF" in text and token not in text


@pytest.mark.django_db
def test_a_404_under_a_sign_in_link_logs_no_token(caplog):
    with caplog.at_level(logging.DEBUG):
        response = Client().get(f"/accounts/login/link/{EMAIL_TOKEN}/more/?code=ABCD-EFGH")
    assert response.status_code == 404
    text = all_log_text(caplog)
    assert "Not Found" in text and EMAIL_TOKEN not in text


def test_a_traceback_quoting_a_token_is_redacted(caplog):
    with caplog.at_level(logging.DEBUG):
        try:
            raise ValueError(f"bad request to /accounts/login/link/{EMAIL_TOKEN}/?state=s3cr3tstate1")
        except ValueError:
            logging.getLogger("django.request").exception("Internal Server Error")
    record = caplog.records[-1]
    assert EMAIL_TOKEN not in (record.exc_text or "") and "s3cr3tstate1" not in (record.exc_text or "")


def test_the_leak_check_knows_token_shapes():
    """The suite-wide check flags a record that reached it with a token in a URL unredacted."""
    collector = LeakCollector()
    collector.secrets = secret_values()
    for line in [f"/accounts/login/link/{EMAIL_TOKEN}/", f"cb/?code=abc123xyz&state=q", f"?start={START_TOKEN}"]:
        record = logging.LogRecord("tests.leak", logging.WARNING, __file__, 1, "%s", (line,), None)
        collector.handle(record)
    assert len(collector.leaks) == 3
    redacted = logging.LogRecord("tests.leak", logging.WARNING, __file__, 1, "/accounts/login/link/[redacted]/?code=[redacted]", (), None)
    collector.handle(redacted)
    assert len(collector.leaks) == 3


def test_the_leak_check_looks_for_live_tokens_in_pages():
    """Response bodies too (tests/review/test_tokens_on_pages.py): a /start command with its
    token, a sign-in link, Telegram's one-use signed fields; not the two a page carries on
    purpose (the owner's deep link, the legacy callback's session-bound state)."""
    from tests.conftest import tokens_in_body

    leaking = [
        f"<pre>{{&quot;text&quot;: &quot;/start {START_TOKEN}&quot;}}</pre>",
        f'<a href="/accounts/login/link/{EMAIL_TOKEN}/">',
        '<a href="/accounts/telegram/button/?next=%2F&amp;id=1&amp;hash=0a1b2c3d">',
        '<iframe src="https://site/accounts/telegram/app/#tgWebAppData=query_id%3DAA">',
        '<a href="/cb/?code=abc123xyz">',
    ]
    for body in leaking:
        assert tokens_in_body("/admin/bot/storedupdate/1/change/", body), body
    fine = [
        f'<a href="https://t.me/site_bot?start={START_TOKEN}">connect through the bot</a>',
        '<form action="/accounts/telegram/login/callback/?state=q1w2e3r4t5y6u7i8">',
        "/start is how a chat with a bot begins; /start [redacted]",
        f"<p>/start@site_bot</p><p>hash=[redacted]</p>",
    ]
    for body in fine:
        assert tokens_in_body("/accounts/", body) == [], body
    assert tokens_in_body("/dev/mail/", f'<a href="/accounts/login/link/{EMAIL_TOKEN}/">') == []
