def test_the_stage_in_moto_has_a_queue_with_a_dead_letter_queue_and_a_secret(aws, settings):
    import json

    from project.core import secrets

    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["RedrivePolicy"])
    assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] in (5, "5")
    settings.SECRETS_BACKEND = "aws"
    secrets.reset_cache()
    assert secrets.bot_token() == settings.LOCAL_BOT_TOKEN


def test_a_foreign_token_in_the_secret_stops_the_stage(aws, settings):
    import pytest

    from project.core import secrets
    from tests.conftest import FOREIGN_BOT_TOKEN

    aws.put_secret(telegram_bot_token=FOREIGN_BOT_TOKEN, telegram_webhook_secret="w" * 20)
    settings.SECRETS_BACKEND = "aws"
    secrets.reset_cache()
    with pytest.raises(secrets.ForeignBotToken, match="configured for bot 7000000001"):
        secrets.bot_token()
