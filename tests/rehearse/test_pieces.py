"""The rehearsal's smaller pieces: the documented blocks (contract C10), Lambda's SQS
batch semantics, the network's refusals, Telegram's webhook URL rules."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from infra.rehearse import docs_blocks, sqs_source
from infra.rehearse.runtime import Invocation

BASE_DIR = Path(__file__).resolve().parents[2]


# --- docs/DEPLOY.md's rehearsed blocks -------------------------------------------------------

def test_marked_blocks_are_extracted_in_order():
    text = ("intro\n<!-- rehearsed: one -->\n```sh\necho 1\n```\n\n```sh\necho not marked\n```\n"
            "<!-- rehearsed: two -->\n```sh\necho 2\necho 3\n```\n")
    blocks = docs_blocks.extract(text)
    assert [(b.name, b.code) for b in blocks] == [("one", "echo 1\n"), ("two", "echo 2\necho 3\n")]


@pytest.mark.parametrize("text, error", [
    ("<!-- rehearsed: x -->\nsome text\n", "not followed by"),
    ("<!-- rehearsed: x -->\n```sh\necho\n", "never closed"),
    ("<!-- rehearsed: x -->\n```sh\na\n```\n<!-- rehearsed: x -->\n```sh\nb\n```\n", "two blocks"),
])
def test_a_broken_marker_is_an_error_not_a_skipped_step(text, error):
    with pytest.raises(docs_blocks.DocsError, match=error):
        docs_blocks.extract(text)


def test_deploy_md_marks_the_deploy_path():
    blocks, marked = docs_blocks.blocks_of(BASE_DIR / "docs" / "DEPLOY.md")
    assert marked and len(blocks) >= 5
    assert all(b.code.strip() for b in blocks)


def test_a_block_gets_its_prompts_answered_and_fails_on_one_nobody_expects(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    asks = docs_blocks.Block("asks", 'python3 -c "import getpass; print(len(getpass.getpass(\'Bot token: \')))"\n', 1)
    ok = docs_blocks.run_block(asks, cwd=tmp_path, env=env, answers={"Bot token": "secret-value"}, timeout=30,
                               log_file=tmp_path / "ok.log")
    assert ok.ok and ok.output.strip().endswith("12")
    assert "secret-value" not in ok.output  # a hidden prompt does not echo
    failing = docs_blocks.Block("fails", "echo before\nfalse\necho after\n", 1)
    result = docs_blocks.run_block(failing, cwd=tmp_path, env=env, answers={}, timeout=30, log_file=tmp_path / "f.log")
    assert not result.ok and result.reason == "exit status 1" and "after" not in result.output


# --- Lambda's SQS batch semantics ----------------------------------------------------------------

MESSAGES = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": "{}"} for i in range(3)]


def test_a_failed_invocation_deletes_nothing():
    assert sqs_source.to_delete(MESSAGES, Invocation(error={"errorType": "X"}), True) == []
    assert sqs_source.to_delete(MESSAGES, Invocation(error={"errorType": "X"}), False) == []


def test_reported_failures_stay_and_the_rest_is_deleted():
    answer = Invocation(result={"batchItemFailures": [{"itemIdentifier": "m1"}]})
    assert [m["MessageId"] for m in sqs_source.to_delete(MESSAGES, answer, True)] == ["m0", "m2"]


def test_without_report_batch_item_failures_lambda_deletes_the_whole_batch():
    answer = Invocation(result={"batchItemFailures": [{"itemIdentifier": "m1"}]})
    assert len(sqs_source.to_delete(MESSAGES, answer, False)) == 3


@pytest.mark.parametrize("answer", ["not a dict", {"batchItemFailures": "m1"}, {"batchItemFailures": [{"x": 1}]}])
def test_a_malformed_answer_fails_the_whole_batch(answer):
    assert sqs_source.to_delete(MESSAGES, Invocation(result=answer), True) == []


# --- the network and Telegram's rules -----------------------------------------------------------

@pytest.fixture(scope="module")
def network(tmp_path_factory):
    from infra.rehearse.network import Network, Route

    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["HTTP_HOST"].encode()]

    running = Network(tmp_path_factory.mktemp("tls"), routes=[Route("test", ("known.example.com",), hello)]).start()
    yield running
    running.stop()


def connect(network, target: str) -> bytes:
    with socket.create_connection(("127.0.0.1", network.proxy_port), timeout=5) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        return sock.recv(100)


def test_known_names_are_served_over_verified_https(network):
    with network.httpx_client() as client:
        answer = client.get("https://known.example.com/")
    assert answer.status_code == 200 and answer.text == "known.example.com"


def test_unknown_names_other_ports_and_plain_http_are_refused(network):
    assert connect(network, "known.example.com:443").startswith(b"HTTP/1.1 200")
    assert connect(network, "unknown.example.com:443").startswith(b"HTTP/1.1 403")
    assert connect(network, "known.example.com:8443").startswith(b"HTTP/1.1 403")
    with socket.create_connection(("127.0.0.1", network.proxy_port), timeout=5) as sock:
        sock.sendall(b"GET http://known.example.com/ HTTP/1.1\r\nHost: known.example.com\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 403")


def test_a_certificate_from_elsewhere_is_not_trusted(network):
    import httpx

    with httpx.Client(proxy=network.proxy_url, trust_env=False) as client:  # the public CAs only
        with pytest.raises(httpx.ConnectError):
            client.get("https://known.example.com/")


@pytest.mark.parametrize("url, error", [
    ("http://tg.dev.meetups.example.com/telegram/webhook", "An HTTPS URL must be provided"),
    ("https://tg.dev.meetups.example.com:8080/telegram/webhook", "ports 80, 88, 443 or 8443"),
])
def test_telegram_refuses_webhooks_it_would_refuse(url, error):
    from infra.local.telegram_sandbox.objects import ApiError
    from infra.rehearse.telegram import strict_set_webhook

    accepted = []
    set_webhook = strict_set_webhook(lambda sb, bot, params: accepted.append(params["url"]) or True)
    with pytest.raises(ApiError, match=error):
        set_webhook(None, None, {"url": url})
    assert set_webhook(None, None, {"url": "https://tg.dev.meetups.example.com/telegram/webhook"})
    assert set_webhook(None, None, {"url": "https://tg.dev.meetups.example.com:8443/telegram/webhook"})
    assert accepted == ["https://tg.dev.meetups.example.com/telegram/webhook",
                        "https://tg.dev.meetups.example.com:8443/telegram/webhook"]
