"""``python -m infra.local.telegram_sandbox --port 8081 --bot TOKEN:USERNAME[:OIDC_SECRET]``"""

from __future__ import annotations

import argparse
import os
import sys

from werkzeug.serving import run_simple

from .app import create_app
from .limits import Limits
from .state import BotConfig, Sandbox
from .testing import (DEFAULT_BOT_TOKEN, DEFAULT_BOT_USERNAME, DEFAULT_OIDC_SECRET,
                      QuietHandler, VerboseHandler)


def parse_bot(spec: str) -> BotConfig:
    # A token is "<digits>:<secret>", so split "ID:SECRET:USERNAME[:OIDC]" by position.
    parts = spec.split(":")
    if len(parts) < 3 or not parts[0].isdigit():
        raise argparse.ArgumentTypeError("--bot wants TOKEN:USERNAME[:OIDC_SECRET]")
    token = f"{parts[0]}:{parts[1]}"
    oidc = ":".join(parts[3:]) or None
    return BotConfig(token=token, username=parts[2], first_name=parts[2], oidc_client_secret=oidc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infra.local.telegram_sandbox",
                                 description="Local Telegram stand-in (dev only).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--bot", action="append", type=parse_bot, default=[],
                    help="TOKEN:USERNAME[:OIDC_SECRET]; repeatable; the first is the default bot")
    ap.add_argument("--base-url", help="public base URL (default http://HOST:PORT)")
    ap.add_argument("--issuer", help="OIDC issuer (default: the base URL)")
    ap.add_argument("--state", metavar="FILE", help="keep fake users in this JSON file")
    ap.add_argument("--no-limits", action="store_true", help="disable the rate limits")
    ap.add_argument("--webhook-retry-base", type=float, default=1.0)
    ap.add_argument("--webhook-retry-max", type=float, default=10.0)
    ap.add_argument("--quiet", action="store_true", help="no request log")
    args = ap.parse_args(argv)

    bots = args.bot or [BotConfig(
        token=os.environ.get("TELEGRAM_BOT_TOKEN") or DEFAULT_BOT_TOKEN,
        username=os.environ.get("TELEGRAM_BOT_USERNAME") or DEFAULT_BOT_USERNAME,
        first_name="Site (local)",
        oidc_client_secret=os.environ.get("TELEGRAM_OIDC_CLIENT_SECRET") or DEFAULT_OIDC_SECRET)]
    base_url = args.base_url or f"http://{args.host}:{args.port}"
    sandbox = Sandbox(bots, base_url=base_url, issuer=args.issuer,
                      limits=None if args.no_limits else Limits(), state_file=args.state,
                      webhook_retry_base=args.webhook_retry_base,
                      webhook_retry_max=args.webhook_retry_max)
    sandbox.start_delivery()
    print(f"Telegram sandbox on {base_url} (bots: "
          + ", ".join(f"@{b.username} id {b.id}" for b in bots) + ")", file=sys.stderr)
    run_simple(args.host, args.port, create_app(sandbox), threaded=True, use_reloader=False,
               request_handler=QuietHandler if args.quiet else VerboseHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
