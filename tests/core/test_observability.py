"""
project.core.observability: the EMF lines `metric()` writes, the ids bound to log lines, and
the JSON lines of a deployed stage, read back from captured stdout/stderr as CloudWatch would
read them. The formatter is the one a deployed stage's settings configure (read from a fresh
interpreter with a complete `dev` environment), and redaction stays whole in it.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
from functools import lru_cache

import pytest

from project.core import observability
from project.core.observability import metrics as metrics_buffer
from tests.core.test_settings import DEPLOYED_ENV, load_settings

# --- helpers shared by the test_observability* files ---------------------------------------


class LambdaContext:
    """What Lambda passes as `context` (only what the code reads)."""

    def __init__(self, aws_request_id: str):
        self.aws_request_id = aws_request_id


def emf_lines(stdout: str) -> list[dict]:
    """Every embedded-metric-format object in captured stdout, checked as CloudWatch would."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        if "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for name in dimension_set:
                    assert isinstance(blob[name], str), f"dimension {name} missing from {line}"
            for definition in directive["Metrics"]:
                assert definition["Name"] in blob, f"metric {definition['Name']} has no value in {line}"
        assert isinstance(blob["_aws"]["Timestamp"], int)
        found.append(blob)
    return found


def metric_sums(blobs: list[dict]) -> dict[tuple, float]:
    """{(namespace, dimensions as a sorted tuple, metric name): summed values}."""
    sums: dict[tuple, float] = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = tuple(sorted((name, blob[name]) for name in dimension_set))
                for definition in directive["Metrics"]:
                    assert definition["Unit"]
                    values = blob[definition["Name"]]
                    total = sum(values) if isinstance(values, list) else values
                    key = (directive["Namespace"], dimensions, definition["Name"])
                    sums[key] = sums.get(key, 0) + total
    return sums


def json_log_lines(stderr: str) -> list[dict]:
    """The JSON log lines in captured stderr. (The test settings' own text handler writes
    there too: its lines start with a date, never with "{".)"""
    parsed = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    for entry in parsed:
        assert {"timestamp", "level", "logger", "message"} <= set(entry), entry
    return parsed


@lru_cache(maxsize=1)
def deployed_logging() -> dict:
    """settings.LOGGING of a deployed stage, from a fresh interpreter."""
    result = load_settings(DEPLOYED_ENV, show="import json; print(json.dumps(s.LOGGING))")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _build(spec: dict):
    module, _, name = spec["()"].rpartition(".")
    factory = getattr(importlib.import_module(module), name)
    return factory(**{k: v for k, v in spec.items() if k != "()"})


class _CurrentStderr:
    """Writes to whatever sys.stderr is when a line is written (pytest swaps it per phase),
    as the StreamHandler of a Lambda process writes to its one stderr."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


@pytest.fixture
def deployed_logs(settings, capsys):
    """The deployed stage's console handler (its formatter and filters, built from its own
    LOGGING) on the root logger, writing to sys.stderr as capsys captures it; and metrics
    emitted fresh. Added beside the suite's handlers rather than reconfiguring logging, so
    the suite-wide leak check keeps watching."""
    config = deployed_logging()
    spec = config["handlers"]["console"]
    assert spec["class"] == "logging.StreamHandler"
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(_build(config["formatters"][spec["formatter"]]))
    for name in spec.get("filters", []):
        handler.addFilter(_build(config["filters"][name]))
    handler.setLevel(config["root"]["level"])
    root = logging.getLogger()
    root.addHandler(handler)
    settings.METRICS_ENABLED = True
    metrics_buffer.reset()
    yield handler
    root.removeHandler(handler)
    metrics_buffer.reset()


# --- the deployed configuration ---------------------------------------------------------------


def test_deployed_stages_log_json_lines_and_local_ones_text():
    config = deployed_logging()
    assert config["formatters"]["console"] == {"()": "project.core.observability.jsonlog.JsonLinesFormatter"}
    assert config["handlers"]["console"]["filters"] == ["redact_secrets"]
    local = load_settings({"STAGE": "local"}, show="import json; print(json.dumps(s.LOGGING), s.METRICS_ENABLED)")
    assert local.returncode == 0, local.stderr
    text_config, enabled = local.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert "format" in json.loads(text_config)["formatters"]["console"]
    assert enabled == "False"  # make dev's terminal is not CloudWatch


def test_an_unknown_log_format_refuses_to_start():
    result = load_settings({"STAGE": "local", "LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or text, not 'xml'" in result.stderr


# --- metrics ------------------------------------------------------------------------------------


def test_a_metric_outside_an_invocation_is_written_at_once(deployed_logs, capsys):
    observability.metric("SweepEnqueued", 3)
    blobs = emf_lines(capsys.readouterr().out)
    assert len(blobs) == 1
    (directive,) = blobs[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "meetups"
    assert directive["Dimensions"] == [["Stage", "Function"]]
    assert directive["Metrics"] == [{"Name": "SweepEnqueued", "Unit": "Count"}]
    assert blobs[0]["Stage"] == "test" and blobs[0]["Function"] == "site"
    assert blobs[0]["SweepEnqueued"] == [3.0]


def test_an_invocation_writes_its_metrics_once_at_its_end_with_its_ids(deployed_logs, capsys):
    @observability.entry_point
    def handler(event, context):
        observability.bind(update_id=41)
        observability.metric("Things")
        observability.metric("Things")
        observability.metric("Latency", 12.5, "Milliseconds")
        assert emf_lines(capsys.readouterr().out) == []  # nothing written yet
        return "answer"

    assert handler({}, LambdaContext("req-1")) == "answer"
    (blob,) = emf_lines(capsys.readouterr().out)
    assert blob["Things"] == [1.0, 1.0] and blob["Latency"] == [12.5]
    assert {"Name": "Latency", "Unit": "Milliseconds"} in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    # The ids travel as metadata (not dimensions): the line says where it came from.
    assert blob["request_id"] == "req-1" and blob["update_id"] == 41
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage", "Function"]]
    assert observability.current_ids() == {}


def test_an_invocation_that_raises_still_writes_its_metrics(deployed_logs, capsys):
    @observability.entry_point
    def handler(event, context):
        observability.metric("BeforeTheError")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler({}, None)
    (blob,) = emf_lines(capsys.readouterr().out)
    assert blob["BeforeTheError"] == [1.0]
    assert len(blob["request_id"]) == 32  # no Lambda context: a fresh id


def test_outcome_counts_the_total_and_the_kind(deployed_logs, capsys):
    with observability.invocation():
        observability.outcome("Telegram", "retry_after")
        observability.outcome("Telegram", "sent")
    sums = metric_sums(emf_lines(capsys.readouterr().out))
    dims = (("Function", "site"), ("Stage", "test"))
    assert sums == {("meetups", dims, "TelegramTotal"): 2, ("meetups", dims, "TelegramRetryAfter"): 1,
                    ("meetups", dims, "TelegramSent"): 1}


def test_a_bad_unit_is_a_clear_error(deployed_logs):
    with pytest.raises(Exception, match="Invalid metric unit"):
        observability.metric("Things", 1, "Parsecs")


def test_metrics_switched_off_write_nothing(deployed_logs, settings, capsys):
    settings.METRICS_ENABLED = False
    metrics_buffer.reset()
    with observability.invocation(request_id="r"):
        observability.metric("Things")
    assert emf_lines(capsys.readouterr().out) == []


# --- log context ------------------------------------------------------------------------------


def test_ids_are_bound_for_a_block_and_restored_after_it():
    assert observability.current_ids() == {}
    with observability.invocation(request_id="r1"):
        observability.bind(update_id=5)
        with observability.context(delivery_id=9):
            assert observability.current_ids() == {"request_id": "r1", "update_id": 5, "delivery_id": 9}
        assert observability.current_ids() == {"request_id": "r1", "update_id": 5}

        @observability.context()
        def settle(delivery_id):
            observability.bind(delivery_id=delivery_id)
            return dict(observability.current_ids())

        assert settle(1)["delivery_id"] == 1 and settle(2)["delivery_id"] == 2
        assert "delivery_id" not in observability.current_ids()
    assert observability.current_ids() == {}


def test_an_invocation_starts_without_the_ids_of_an_outer_one():
    with observability.invocation(request_id="outer", update_id=1):
        with observability.invocation(request_id="inner"):
            assert observability.current_ids() == {"request_id": "inner"}


def test_only_the_known_ids_can_be_bound():
    with pytest.raises(TypeError, match="not user_id"):
        observability.bind(user_id=3)


def test_each_thread_has_its_own_ids():
    seen = {}

    def other():
        seen["ids"] = dict(observability.current_ids())

    with observability.invocation(request_id="main"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen["ids"] == {}


def test_json_lines_carry_the_bound_ids(deployed_logs, capsys):
    logger = logging.getLogger("tests.observability")
    with observability.invocation(request_id="req-7"):
        observability.bind(update_id=812)
        logger.info("handled %s", "it")
        with observability.context(delivery_id=33):
            logger.warning("settled", extra={"delivery_id": 34})  # an explicit extra wins
    logger.info("outside")
    first, second, third = json_log_lines(capsys.readouterr().err)
    assert first["message"] == "handled it" and first["level"] == "INFO" and first["logger"] == "tests.observability"
    assert first["request_id"] == "req-7" and first["update_id"] == 812 and "delivery_id" not in first
    assert second["delivery_id"] == 34 and second["update_id"] == 812
    assert not {"request_id", "update_id", "delivery_id"} & set(third)
    assert first["timestamp"].endswith("+00:00")


# --- redaction stays whole in the JSON lines -----------------------------------------------------


def test_secrets_in_a_log_call_come_out_redacted_in_the_json_line(deployed_logs, capsys):
    from project.core.secrets import get_secret

    token = get_secret("telegram_bot_token")
    webhook_secret = get_secret("telegram_webhook_secret")
    logger = logging.getLogger("tests.observability")
    with observability.invocation(request_id="req-8"):
        logger.warning("POST https://api.telegram.org/bot%s/sendMessage secret=%s", token, webhook_secret)
        # extra= fields are set after the record factory redacts; the JSON line prints them.
        logger.warning("with extras", extra={"url": f"/bot{token}/getMe", "header": webhook_secret})
    captured = capsys.readouterr()
    for value in (token, webhook_secret):
        assert value not in captured.err and value not in captured.out
    message, extras = json_log_lines(captured.err)
    assert message["message"] == "POST https://api.telegram.org/bot[redacted]/sendMessage secret=[redacted]"
    assert message["request_id"] == "req-8"
    assert extras["url"] == "/bot[redacted]/getMe" and extras["header"] == "[redacted]"


def test_a_traceback_comes_out_redacted_in_the_json_line(deployed_logs):
    """Powertools renders the traceback again from exc_info (not the factory's redacted
    exc_text), so the formatter redacts it itself. The record is made and formatted by hand:
    logged for real, the suite's leak check would (rightly) flag the raw exc_info."""
    from project.core.secrets import get_secret

    token = get_secret("telegram_bot_token")
    webhook_secret = get_secret("telegram_webhook_secret")
    try:
        raise RuntimeError(f"token {token} and secret {webhook_secret}")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("tests.observability", logging.ERROR, __file__, 1, "failed", (), exc_info)
    line = deployed_logs.format(record)
    assert token not in line and webhook_secret not in line
    (failure,) = json_log_lines(line)
    assert "RuntimeError: token [redacted] and secret [redacted]" in failure["exception"]
    assert "stack_trace" not in failure  # Powertools' structured trace would quote the message


def test_a_sign_in_link_token_comes_out_redacted_in_the_json_line(deployed_logs, capsys):
    """Django logs the path of a 405 or a CSRF failure; a sign-in link carries its token there."""
    import secrets

    from django.urls import reverse

    token = secrets.token_urlsafe(32)  # as EmailSignInProcess makes them
    path = reverse("account_login_link", kwargs={"token": token})
    logging.getLogger("django.request").warning("Method Not Allowed (%s): %s", "OPTIONS", path)
    captured = capsys.readouterr()
    assert token not in captured.err
    (line,) = json_log_lines(captured.err)
    assert line["message"].startswith("Method Not Allowed (OPTIONS): /")


# --- what the Lambda packages keep of Powertools ----------------------------------------------

PACKAGED_WITHOUT = r'''
import importlib.abc, json, logging, os, sys

class Excluded(importlib.abc.MetaPathFinder):
    """The parts of Powertools the packages leave out (exclude_glob in zappa_settings.json)."""
    def find_spec(self, name, path=None, target=None):
        parts = name.split(".")
        if parts[:2] == ["aws_lambda_powertools", "event_handler"]:
            raise ImportError(f"{name} is not in the package")
        if parts[:2] == ["aws_lambda_powertools", "utilities"] and len(parts) > 2 and parts[2][:1] not in "_j":
            raise ImportError(f"{name} is not in the package")
        return None

sys.meta_path.insert(0, Excluded())
import django
django.setup()  # configures the JSON formatter: Powertools comes in here
from project.core import observability
with observability.invocation(request_id="r"):
    observability.outcome("Telegram", "blocked")
    logging.getLogger("t").warning("a %s line", "json")
try:
    import aws_lambda_powertools.utilities.parser
except ImportError:
    pass
else:
    raise SystemExit("the exclusion did not hold")
'''


def test_signals_work_with_the_parts_of_powertools_the_packages_exclude():
    import os
    import subprocess

    from tests.core.test_settings import ROOT

    clean = {k: v for k, v in os.environ.items() if k not in DEPLOYED_ENV and not k.startswith("TELEGRAM_")}
    env = {**clean, **DEPLOYED_ENV, "DJANGO_SETTINGS_MODULE": "project.settings", "METRICS_ENABLED": "true"}
    result = subprocess.run([sys.executable, "-c", PACKAGED_WITHOUT], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    (blob,) = emf_lines(result.stdout)
    assert blob["TelegramBlocked"] == [1.0] and blob["Stage"] == "dev"
    (line,) = json_log_lines(result.stderr)
    assert line["message"] == "a json line" and line["request_id"] == "r"
