"""
The webhook Lambda's function URL, on a laptop: `python -m infra.local.webhook_gateway --port 8001`.

Each HTTP request becomes a Lambda function URL event (payload format 2.0) and goes to
handlers.webhook.handler, exactly the code that runs in Lambda; its answer becomes the HTTP
response. So the Telegram sandbox's webhook deliveries reach the real handler locally, and
tests can drive it over HTTP (`start_gateway()`).
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import threading
import time
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

logger = logging.getLogger("infra.local.webhook_gateway")


def function_url_event(request: Request) -> dict:
    """The event AWS builds for a function URL request (the fields the handler may read)."""
    raw = request.get_data(cache=False)
    try:
        body, is_base64 = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(raw).decode("ascii"), True
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        # Function URLs join repeated headers with commas, as here.
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local-webhook-gateway",
            "domainName": request.host,
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": f"local-{int(now * 1000)}",
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def app(environ, start_response):
    from handlers.webhook import handler

    request = Request(environ)
    answer = handler(function_url_event(request), None)
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body)
    response = Response(body, status=int(answer.get("statusCode", 200)), headers=answer.get("headers") or {})
    return response(environ, start_response)


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the sandbox's delivery client expects

    def log_request(self, code="-", size="-"):
        if os.environ.get("WEBHOOK_GATEWAY_VERBOSE"):
            super().log_request(code, size)


@dataclass
class RunningGateway:
    url: str
    _server: object
    _thread: threading.Thread

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/telegram/webhook"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_gateway(host: str = "127.0.0.1", port: int = 0) -> RunningGateway:
    """Serve the gateway from a daemon thread (tests); port 0 picks a free one."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-gateway", daemon=True)
    thread.start()
    return RunningGateway(f"http://{host}:{server.server_port}", server, thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()  # before the first request, so the first delivery is not the slow one
    server = make_server(args.host, args.port, app, threaded=True, request_handler=_QuietHandler)
    print(f"webhook gateway: http://{args.host}:{args.port}/ -> handlers.webhook.handler", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
