"""
The signals of each hot path as an operator would read them: the EMF metrics (namespace,
dimensions, names, values) and the JSON log lines with their ids, parsed from the captured
stdout and stderr of a webhook update, a sender batch that meets a 429 and a 403, and a
site request that answers 500. The handlers are the real ones, called with Lambda's shapes;
the sender talks to the Telegram sandbox over HTTP and to moto's SQS.
"""

from __future__ import annotations

import pytest
from django.urls import path

from project.core import observability
from project.core.observability import metrics as metrics_buffer
from tests.bot.conftest import message_update, webhook_event
from tests.core.test_observability import LambdaContext, deployed_logs, emf_lines, json_log_lines, metric_sums
from tests.notifications.conftest import lambda_sender, make_person  # noqa: F401 (fixtures)

__all__ = ["deployed_logs", "lambda_sender", "make_person"]


def dims(function: str) -> tuple:
    return (("Function", function), ("Stage", "test"))


@pytest.fixture
def as_function(settings):
    """The dimension Function comes from FUNCTION_ROLE, which each handler sets for its own
    process; in the test process it is switched per test."""

    def switch(role: str):
        settings.FUNCTION_ROLE = role
        metrics_buffer.reset()

    return switch


# --- the webhook --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_webhook_update_counts_its_outcome_and_logs_with_its_ids(deployed_logs, as_function, capsys):
    from handlers.webhook import handler

    as_function("webhook")
    update = message_update(4242, "hello")
    answer = handler(webhook_event(update), LambdaContext("req-webhook-1"))
    assert answer["statusCode"] == 200
    captured = capsys.readouterr()

    (blob,) = emf_lines(captured.out)  # one line for the whole invocation
    assert metric_sums([blob]) == {
        ("meetups", dims("webhook"), "WebhookTotal"): 1,
        ("meetups", dims("webhook"), "WebhookHandled"): 1,
    }
    assert blob["request_id"] == "req-webhook-1" and blob["update_id"] == update["update_id"]

    lines = json_log_lines(captured.err)
    (answered,) = [line for line in lines if line["logger"] == "handlers.webhook"]
    assert answered["message"] == f"webhook: update {update['update_id']} (message) handled"
    assert answered["request_id"] == "req-webhook-1" and answered["update_id"] == update["update_id"]
    assert all(line["request_id"] == "req-webhook-1" for line in lines)


@pytest.mark.django_db
def test_a_rejected_webhook_request_is_counted_and_logged_without_an_update_id(deployed_logs, as_function, capsys):
    from handlers.webhook import handler

    as_function("webhook")
    answer = handler(webhook_event(message_update(4242, "x"), secret="wrong-secret"), LambdaContext("req-webhook-2"))
    assert answer["statusCode"] == 401
    captured = capsys.readouterr()
    assert metric_sums(emf_lines(captured.out)) == {
        ("meetups", dims("webhook"), "WebhookTotal"): 1,
        ("meetups", dims("webhook"), "WebhookRejected"): 1,
    }
    (line,) = [line for line in json_log_lines(captured.err) if line["logger"] == "handlers.webhook"]
    assert line["message"] == "webhook: rejected with 401: secret token does not match"
    assert line["level"] == "WARNING" and line["request_id"] == "req-webhook-2" and "update_id" not in line


# --- the sender ---------------------------------------------------------------------------------


def test_a_sender_batch_counts_429s_and_403s_and_logs_each_delivery_id(
    deployed_logs, as_function, capsys, make_person, lambda_sender, sandbox, aws, django_capture_on_commit_callbacks
):
    from project.notifications.flows import preferences
    from project.notifications.models import Delivery
    from project.notifications.outbox import send_telegram

    as_function("sender")
    people = [make_person(telegram_id=7101 + n, sandbox=sandbox) for n in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        for person in people:
            preferences.save(person, enabled=set(), everything_off=False)
            send_telegram(person.telegram_account.telegram_id, "sendMessage", {"text": "Hello"}, user=person)
    # The first call to reach Telegram is refused (blocked), the second one told to wait: in
    # this order, since after a 429 the sender would hold back the other message instead of
    # calling. (retry_after longer than the function may wait: the message goes back.)
    sandbox.fail_next("sendMessage", 403, description="Forbidden: bot was blocked by the user")
    sandbox.fail_next("sendMessage", 429, retry_after=600, description="Too Many Requests: retry after 600")
    event = lambda_sender.receive_event()
    assert len(event["Records"]) == 2
    capsys.readouterr()
    from handlers.sender import handler

    handler(event, LambdaContext("req-sender-1"))
    captured = capsys.readouterr()

    statuses = dict(Delivery.objects.filter(channel="telegram").values_list("status", "pk"))
    assert set(statuses) == {"queued", "unreachable"}

    (blob,) = emf_lines(captured.out)  # one line for the batch
    assert metric_sums([blob]) == {
        ("meetups", dims("sender"), "TelegramTotal"): 2,
        ("meetups", dims("sender"), "TelegramRetryAfter"): 1,
        ("meetups", dims("sender"), "TelegramBlocked"): 1,
    }
    assert blob["request_id"] == "req-sender-1" and "delivery_id" not in blob

    lines = json_log_lines(captured.err)
    assert lines and all(line["request_id"] == "req-sender-1" for line in lines)
    (unreachable,) = [line for line in lines if "is unreachable now" in line["message"]]
    assert unreachable["delivery_id"] == statuses["unreachable"]
    assert "blocked" in unreachable["message"]


# --- the site -----------------------------------------------------------------------------------


class Broken(Exception):
    pass


def broken_view(request):
    raise Broken("the view failed")


urlpatterns = [path("broken/", broken_view)]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_site_request_that_answers_500_is_counted_and_logged_with_its_request_id(
    deployed_logs, as_function, capsys, client
):
    as_function("site")
    client.raise_request_exception = False
    # Zappa puts the Lambda context into the WSGI environ; Django's test client does the same
    # with extra keys.
    response = client.get("/broken/", **{"lambda.context": LambdaContext("req-site-1")})
    assert response.status_code == 500
    assert client.get("/broken/", **{"lambda.context": LambdaContext("req-site-2")}).status_code == 500
    captured = capsys.readouterr()

    blobs = emf_lines(captured.out)
    assert [blob["request_id"] for blob in blobs] == ["req-site-1", "req-site-2"]  # one line per request
    assert metric_sums(blobs) == {("meetups", dims("site"), "SiteServerErrors"): 2}

    errors = [line for line in json_log_lines(captured.err) if line["logger"] == "django.request"]
    assert [line["request_id"] for line in errors] == ["req-site-1", "req-site-2"]
    assert errors[0]["level"] == "ERROR" and errors[0]["message"] == "Internal Server Error: /broken/"
    assert errors[0]["exception_name"] == "Broken" and "the view failed" in errors[0]["exception"]


@pytest.mark.django_db
def test_a_site_request_that_answers_200_writes_no_metric_line(deployed_logs, as_function, capsys, client):
    as_function("site")
    assert client.get("/").status_code == 200
    assert emf_lines(capsys.readouterr().out) == []
    assert observability.current_ids() == {}
