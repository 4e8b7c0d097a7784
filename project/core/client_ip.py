"""
The client's address, as the API Gateway in front of the site saw it.

Why this exists: the site runs behind a REGIONAL API Gateway REST API through Zappa's
handler. API Gateway *appends* the caller's address to any `X-Forwarded-For` the caller
sent (`<forged>, <real>`), and Zappa's `create_wsgi_request` sets REMOTE_ADDR to the second
to last entry (right for an edge-optimized API, where CloudFront appends itself last; wrong
here): a caller that sends its own header picks its REMOTE_ADDR. allauth's per-IP rate
limits, our sign-in email limit (project/accounts/flows/email_sign_in.py, through allauth's
`ratelimit.consume`), Django and Zappa's access log all read REMOTE_ADDR.

The one address nobody can choose is `requestContext.identity.sourceIp` in the event, which
Zappa's handler hands over whole in the WSGI environ (`environ["lambda.event"]`): this
middleware, first in the stack, puts it in REMOTE_ADDR, so everything after (allauth with its
defaults, ALLAUTH_TRUSTED_PROXY_COUNT = 0, our code, Django's and Zappa's logs;
request.META *is* the WSGI environ) sees the same address. Nothing should read
X-Forwarded-For.

Not from a header: the site stage's `context_header_mappings` (zappa_settings.json) also
copies the address into the header `settings.CLIENT_IP_HEADER`, but Zappa title-cases the
caller's header names with str.title() and makes the environ key with str.upper(), which
disagree outside ASCII ("sourceıp", dotless i, is a header of its own that lands on
HTTP_SOURCEIP after the mapped one). The header is read only where there is no event: a
WSGI environ built from an event without the handler (tests of Zappa's translation).

Without either (tests, `make dev`) REMOTE_ADDR stays as the server set it; a value that is
not an IP address is ignored.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def gateway_address(request) -> str | None:
    """The address API Gateway saw, when the request came through it (see above)."""
    event = request.META.get("lambda.event")
    if isinstance(event, dict):
        identity = (event.get("requestContext") or {}).get("identity") or {}
        value = identity.get("sourceIp") if isinstance(identity, dict) else None
    else:
        header = getattr(settings, "CLIENT_IP_HEADER", "")
        value = request.headers.get(header) if header else None
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class ClientAddressMiddleware:
    """REMOTE_ADDR := the address API Gateway saw (see the module's docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address = gateway_address(request)
        if address:
            request.META["REMOTE_ADDR"] = address
        return self.get_response(request)
