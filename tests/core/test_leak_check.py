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
