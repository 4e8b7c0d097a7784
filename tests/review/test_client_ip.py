"""
Review: the client IP that allauth's per-IP rate limits count, as the deployed site derives it.

The site function runs behind a REGIONAL API Gateway REST API (zappa_settings.json
`endpoint_configuration`, infra/aws/stack.yaml) through Zappa's own handler. Zappa turns the
event into a WSGI environ with `zappa.wsgi.create_wsgi_request`, which sets REMOTE_ADDR to the
*second to last* X-Forwarded-For entry ("the last one is the cloudfront proxy ip"): true for
an edge-optimized API (CloudFront appends the client, then itself), false for a regional one,
where there is no CloudFront and API Gateway appends only the client's address. There, a
client that sends its own `X-Forwarded-For: <anything>` arrives as
`X-Forwarded-For: <anything>, <real address>` and Zappa picks `<anything>`. allauth
(ALLAUTH_TRUSTED_PROXY_COUNT unset) then counts REMOTE_ADDR, so every per-IP limit
(request_login_code 20/m/ip, login_failed 10/m/ip) is per *claimed* address.

The events below are what API Gateway delivers for a regional REST API (requestContext's
identity.sourceIp is the address API Gateway saw; the header keeps what the client sent
before the appended one); the request then goes through the real Django stack (all
middleware, allauth's forms and rate limits) exactly as Zappa's handler passes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core import mail
from django.test.client import ClientHandler
from django.utils.http import urlencode
from zappa.wsgi import create_wsgi_request

pytestmark = pytest.mark.django_db

REAL_ADDRESS = "198.51.100.7"  # the one machine the attacker has
ZAPPA_SETTINGS = Path(__file__).resolve().parents[2] / "zappa_settings.json"


def site_context_header_mappings() -> dict | None:
    """What the site stage gives Zappa's handler as CONTEXT_HEADER_MAPPINGS (none today), so
    a fix made there is exercised here as deployed."""
    return json.loads(ZAPPA_SETTINGS.read_text())["site"].get("context_header_mappings")


def regional_rest_event(path: str, form: dict, *, client_xff: str | None, source_ip: str = REAL_ADDRESS) -> dict:
    """An API Gateway REST (v1) proxy event as a REGIONAL endpoint delivers it: API Gateway
    appends the caller's address to any X-Forwarded-For the caller sent."""
    xff = f"{client_xff}, {source_ip}" if client_xff else source_ip
    headers = {
        "Host": "testserver",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Forwarded-For": xff,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.strip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}", "httpMethod": "POST", "path": f"/dev{path}", "stage": "dev",
            "identity": {"sourceIp": source_ip, "userAgent": "curl/8"},
        },
        "body": urlencode(form),
        "isBase64Encoded": False,
    }


def ask_for_sign_in_email(email: str, *, client_xff: str | None) -> bool:
    """POST the sign-in form through Zappa's event-to-WSGI translation and Django; True when
    an email went out, False when a rate limit refused it."""
    environ = create_wsgi_request(regional_rest_event("/accounts/login/", {"email": email}, client_xff=client_xff),
                                  binary_support=True, context_header_mappings=site_context_header_mappings())
    environ["HTTPS"] = "on"
    environ["wsgi.url_scheme"] = "https"  # as zappa.handler sets them
    before = len(mail.outbox)
    response = ClientHandler(enforce_csrf_checks=False)(environ)
    if response.status_code == 302:
        assert len(mail.outbox) == before + 1
        return True
    assert response.status_code == 200, response.status_code
    assert "Too many sign-in emails" in response.content.decode()
    return False


@pytest.fixture
def tight_ip_limit(settings):
    # Five per address per ten minutes (three per email): the deployed limits' shape, small
    # enough to count, with no chance of lapsing during the test.
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code": "5/10m/ip,3/10m/key"}


def test_guard_per_ip_limit_holds_for_a_caller_that_sends_no_forwarded_header(tight_ip_limit):
    """GUARD (passes today): the control for the test below. One machine, no X-Forwarded-For
    of its own: the sixth sign-in email within the window is refused, so the harness (Zappa's
    translation, allauth's limit) does count per address."""
    sent = [ask_for_sign_in_email(f"victim{i}@example.com", client_xff=None) for i in range(8)]
    assert sent == [True] * 5 + [False] * 3


def test_per_ip_rate_limit_cannot_be_dodged_with_a_forged_x_forwarded_for(tight_ip_limit):
    """
    Attack: one machine sends the sign-in form again and again, each time with its own
    `X-Forwarded-For: 203.0.113.<n>` header. Behind the regional API Gateway the header
    reaches Zappa as "203.0.113.<n>, 198.51.100.7", Zappa's create_wsgi_request sets
    REMOTE_ADDR to the forged first entry (zappa/wsgi.py: `remote_addr = addresses[-2]`), and
    allauth's `request_login_code` (and `login_failed`) per-IP limit counts each forged
    address separately.

    Impact: every per-IP rate limit on the deployed site is void. An attacker can mail-bomb
    any number of addresses through the site's SES identity (only the 3/m/key limit remains,
    per address), burn the SES sending quota / reputation, and grow the rate-limit cache
    without bound from one machine; code-guessing is limited only per key. Also, a client
    that sends no header at all shares nothing with others only by luck of API Gateway
    always appending one.

    Fix: derive the client address from what API Gateway itself saw, not from the first
    entries of the header: on deployed stages set ALLAUTH_TRUSTED_PROXY_COUNT = 1 (allauth
    then takes the LAST X-Forwarded-For entry, the one API Gateway appended), or map
    `requestContext.identity.sourceIp` into a header with Zappa's `context_header_mappings`
    (e.g. {"X-Client-Ip": "identity.sourceIp"}, which overwrites a client-sent header of
    that name) and set ALLAUTH_TRUSTED_CLIENT_IP_HEADER = "X-Client-Ip". Have the
    rehearsal's API Gateway front (infra/rehearse/apigateway.py) append X-Forwarded-For as
    AWS does, so the rehearsal would have caught this. (This test runs the test stage's
    settings and the site stage's context_header_mappings from zappa_settings.json: put the
    allauth setting where the test stage has it too; it is harmless without the header.)
    """
    sent = [ask_for_sign_in_email(f"victim{i}@example.com", client_xff=f"203.0.113.{i + 1}") for i in range(8)]
    assert sent == [True] * 5 + [False] * 3, (
        f"{sent.count(True)} of 8 sign-in emails went out from one machine (per-IP limit is 5): "
        "the forged X-Forwarded-For entry was counted as the client's address"
    )
