"""
The Telegram sandbox as Telegram, for the rehearsal.

It answers at Telegram's own names (`api.telegram.org`, `oauth.telegram.org`, `t.me`) over
HTTPS through the rehearsal's network, with the OpenID Connect issuer
`https://oauth.telegram.org`, so the functions and the operator's commands run with the
stage's real configuration (no sandbox URLs in their environment). Two things are stricter
here than in `make dev`, as Telegram is:

- setWebhook accepts only an HTTPS URL on port 443, 80, 88 or 8443, with Telegram's own
  error texts ("bad webhook: An HTTPS URL must be provided for webhook", "bad webhook:
  Webhook can be set up only on ports 80, 88, 443 or 8443");
- webhook deliveries go out over the rehearsal's network (HTTPS, the certificate checked
  for the webhook's host name), not straight to a local port.

Both are applied to this process's sandbox only (the sandbox module's own HTTP client and
its setWebhook are wrapped here), so `make dev` and the sandbox's tests are unchanged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from infra.rehearse.network import TELEGRAM_WEBHOOK_PORTS, Network

TELEGRAM_HOSTS = ("api.telegram.org", "oauth.telegram.org", "t.me")
ISSUER = "https://oauth.telegram.org"


@dataclass
class StageBot:
    bot_id: str
    username: str
    token: str
    oidc_secret: str


def stage_bot(bot_id: str, username: str) -> StageBot:
    """A fresh token and OIDC secret per rehearsal, as BotFather would hand out."""
    return StageBot(bot_id, username, f"{bot_id}:AAH{secrets.token_urlsafe(24)}", secrets.token_urlsafe(24))


def strict_set_webhook(original):
    from infra.local.telegram_sandbox.botapi import bad

    def set_webhook(sb, bot, params):
        url = str(params.get("url") or "")
        if url:
            parts = urlsplit(url)
            if parts.scheme != "https":
                raise bad("bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in TELEGRAM_WEBHOOK_PORTS:
                raise bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        return original(sb, bot, params)

    return set_webhook


class _HttpxOverNetwork:
    """The sandbox delivery module's `httpx`, whose Client goes through the network."""

    def __init__(self, network: Network):
        import httpx

        self._httpx = httpx
        self._network = network

    def Client(self, *args, **kwargs):  # noqa: N802 - mirrors httpx.Client
        kwargs.pop("trust_env", None)
        return self._network.httpx_client(**kwargs)

    def __getattr__(self, name):
        return getattr(self._httpx, name)


def start_telegram(network: Network, bot: StageBot):
    """The sandbox, serving Telegram's names on the network; returns the running sandbox."""
    from infra.local.telegram_sandbox import botapi, delivery
    from infra.local.telegram_sandbox.app import create_app
    from infra.local.telegram_sandbox.limits import Limits
    from infra.local.telegram_sandbox.state import BotConfig, Sandbox

    name, method = botapi.METHODS["setwebhook"]
    if not getattr(method, "_rehearsal_strict", False):
        wrapped = strict_set_webhook(method)
        wrapped._rehearsal_strict = True
        botapi.METHODS["setwebhook"] = (name, wrapped)
    delivery.httpx = _HttpxOverNetwork(network)

    sandbox = Sandbox([BotConfig(token=bot.token, username=bot.username, first_name=f"{bot.username}",
                                 oidc_client_secret=bot.oidc_secret)],
                      base_url=ISSUER, issuer=ISSUER, limits=Limits(),
                      webhook_retry_base=0.5, webhook_retry_max=5.0)
    app = create_app(sandbox)
    from infra.rehearse.network import Route

    network.routes.insert(0, Route("telegram", TELEGRAM_HOSTS, app))
    sandbox.start_delivery()
    return sandbox
