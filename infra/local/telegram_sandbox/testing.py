"""Run a sandbox in-process for tests: ``start_sandbox(bots) -> RunningSandbox``."""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .state import BotConfig, Sandbox

_TOKEN_IN_PATH = re.compile(r"/bot[^/\s]+/")

DEFAULT_BOT_TOKEN = "7000000001:AAH-local-sandbox-token-not-a-secret-0001"
DEFAULT_BOT_USERNAME = "site_local_bot"
DEFAULT_OIDC_SECRET = "local-oidc-client-secret-not-a-secret"
FOREIGN_BOT_TOKEN = "7000000002:AAH-foreign-sandbox-token-not-a-secret-02"
FOREIGN_BOT_USERNAME = "foreign_bot"
FOREIGN_OIDC_SECRET = "foreign-oidc-client-secret-not-a-secret"


def default_bots() -> list[BotConfig]:
    """The site's local bot (from TELEGRAM_BOT_TOKEN / TELEGRAM_BOT_USERNAME /
    TELEGRAM_OIDC_CLIENT_SECRET, with the sandbox defaults) and a second, foreign bot."""
    token = os.environ.get("TELEGRAM_BOT_TOKEN") or DEFAULT_BOT_TOKEN
    bots = [
        BotConfig(token=token,
                  username=os.environ.get("TELEGRAM_BOT_USERNAME") or DEFAULT_BOT_USERNAME,
                  first_name="Site (local)",
                  oidc_client_secret=os.environ.get("TELEGRAM_OIDC_CLIENT_SECRET") or DEFAULT_OIDC_SECRET),
    ]
    if token != FOREIGN_BOT_TOKEN:
        bots.append(BotConfig(token=FOREIGN_BOT_TOKEN, username=FOREIGN_BOT_USERNAME,
                              first_name="Foreign bot", oidc_client_secret=FOREIGN_OIDC_SECRET))
    return bots


class QuietHandler(WSGIRequestHandler):
    """Request log lines with the bot token masked; silent unless ``verbose``."""

    verbose = False
    # HTTP/1.1 framing (werkzeug still closes each connection after the answer, by design;
    # a new loopback connection costs well under a millisecond).
    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)

    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        message = message % args if args else message
        super().log(type, "%s", _TOKEN_IN_PATH.sub("/bot<token>/", message))


class VerboseHandler(QuietHandler):
    verbose = True


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    url: str
    _server: object
    _thread: threading.Thread

    @property
    def api_base(self) -> str:
        """For ``telegram.Bot(token, base_url=running.api_base)``."""
        return f"{self.url}/bot"

    def stop(self) -> None:
        self.sandbox.stop_delivery()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # Delegate the helper API so tests can write ``telegram_sandbox.add_user(...)``.
    def __getattr__(self, name):
        if name.startswith("__") or name == "sandbox":  # no recursion while half-built
            raise AttributeError(name)
        return getattr(self.sandbox, name)


def start_sandbox(bots: list[BotConfig] | None = None, *, host: str = "127.0.0.1",
                  port: int = 0, verbose: bool = False, **opts) -> RunningSandbox:
    """Start a sandbox on ``host:port`` (port 0: a free one) in a daemon thread, with
    webhook delivery running. ``opts`` go to ``Sandbox`` (limits, clock, issuer,
    webhook_retry_base, ...). Bots default to ``default_bots()``."""
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    # Bind first so the base URL (and so the OIDC issuer) is known before serving.
    sb_holder: dict = {}

    def app(environ, start_response):  # late-bound: the sandbox needs the real port
        return sb_holder["app"](environ, start_response)

    server = make_server(host, port, app, threaded=True,
                         request_handler=VerboseHandler if verbose else QuietHandler)
    url = f"http://{host}:{server.server_port}"
    sandbox = Sandbox(bots or default_bots(), base_url=opts.pop("base_url", None) or url, **opts)
    sb_holder["app"] = create_app(sandbox)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="telegram-sandbox-http",
                              daemon=True)
    thread.start()
    sandbox.start_delivery()
    return RunningSandbox(sandbox, url, server, thread)
