"""Fixtures for the sandbox's own tests: a tiny webhook receiver. The sandbox itself is
Django-free; the root conftest (which needs Django settings) registers its fixtures."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # so plain `pytest` finds `infra` too
    sys.path.insert(0, str(ROOT))

# The fixtures telegram_sandbox_server / telegram_sandbox come from
# infra.local.telegram_sandbox.pytest_plugin, registered by the root conftest.


class WebhookReceiver:
    """Records each POST; answers with statuses from ``responses`` (then 200), and with bodies
    from ``bodies`` (then none): a dict is sent as JSON, a (content type, bytes) pair as is."""

    def __init__(self):
        self.requests: list[dict] = []
        self.responses: list[int] = []
        self.bodies: list = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "json": json.loads(body)})
                    status = receiver.responses.pop(0) if receiver.responses else 200
                    answer = receiver.bodies.pop(0) if receiver.bodies else None
                if isinstance(answer, dict):
                    answer = ("application/json", json.dumps(answer).encode())
                content_type, payload = answer or ("text/plain", b"")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def updates(self) -> list[dict]:
        with self.lock:
            return [r["json"] for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()
