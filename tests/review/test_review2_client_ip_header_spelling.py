"""
Review (second pass): the client address header `Sourceip` (project/core/client_ip.py).

The fix relies on "every spelling of a name without '-' or '_' (any case) is the same key and
is overwritten by the mapping". That holds for ASCII. Zappa title-cases the caller's header
names with str.title() (process_lambda_payload_v1) but builds the environ key with str.upper()
(create_wsgi_request), and the two disagree outside ASCII: U+0131 LATIN SMALL LETTER DOTLESS I
stays "ı" under title() (so "sourceıp" is a key of its own, never overwritten by the mapping)
but becomes "I" under upper() (so it lands on HTTP_SOURCEIP). When the caller also sends a
plain `Sourceip` first, the mapped value is written onto that earlier key, and the later
"Sourceıp" entry is written to the environ after it.

Whether API Gateway passes a header name with non-ASCII bytes to Lambda was not verified
here (it is not a valid HTTP token, and front ends often refuse it); the event below is what
it would deliver if it does. The address is also available without any header: Zappa's
handler puts the whole event in the environ (`environ["lambda.event"]`).
"""

from __future__ import annotations

from django.core.handlers.wsgi import WSGIRequest
from zappa.wsgi import create_wsgi_request

from project.core.client_ip import ClientAddressMiddleware

REAL = "198.51.100.7"
FORGED = "203.0.113.9"
SITE_MAPPINGS = {"Sourceip": "identity.sourceIp"}


def test_a_non_ascii_spelling_of_the_trusted_header_cannot_choose_the_address():
    """
    Attack: send `Sourceip: 1.1.1.1` then `sourceıp: <any address>` (dotless i). Zappa maps
    the real source IP onto the first key; the second, a different dict key, is written to
    HTTP_SOURCEIP after it, and ClientAddressMiddleware makes it REMOTE_ADDR.

    Impact (if API Gateway delivers such a header name): the caller picks its address again,
    per request, so allauth's per-IP limits (request_login_code, login_failed) and the
    sign-in email limit are per claimed address: the X-Forwarded-For finding again.

    Fix: do not take the address from a request header at all. Read
    request.META["lambda.event"]["requestContext"]["identity"]["sourceIp"] (Zappa's handler
    puts the event in the environ), falling back to REMOTE_ADDR only when there is no event
    (tests, make dev); or refuse a request whose environ has HTTP_SOURCEIP with a value other
    than the event's sourceIp.
    """
    headers = {"Sourceip": "1.1.1.1", "sourceıp": FORGED}
    event = {
        "path": "/", "httpMethod": "GET", "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"stage": "dev", "identity": {"sourceIp": REAL}},
    }
    environ = create_wsgi_request(event, binary_support=True, context_header_mappings=SITE_MAPPINGS)
    environ["lambda.event"] = event  # as zappa.handler does
    request = WSGIRequest(environ)
    seen = {}
    ClientAddressMiddleware(lambda r: seen.setdefault("addr", r.META["REMOTE_ADDR"]))(request)

    assert seen["addr"] == REAL, f"the caller chose its address: {seen['addr']} (API Gateway saw {REAL})"
