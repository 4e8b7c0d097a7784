"""The client's address is the one API Gateway saw (project/core/client_ip.py), whatever the
caller writes in its headers; tests/review/test_client_ip.py shows allauth's limits holding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from zappa.wsgi import create_wsgi_request

from project.core.client_ip import ClientAddressMiddleware

ZAPPA_SETTINGS = json.loads((Path(__file__).resolve().parents[2] / "zappa_settings.json").read_text())
REAL = "198.51.100.7"


def stage(name: str) -> dict:
    """A Zappa stage with its `extends` chain resolved, as Zappa reads it."""
    own = dict(ZAPPA_SETTINGS[name])
    parent = own.pop("extends", None)
    return {**(stage(parent) if parent else {}), **own}


def remote_addr(headers: dict[str, str], *, multi: dict[str, list[str]] | None = None) -> str:
    """REMOTE_ADDR as the site's code sees it: Zappa's translation of a regional REST event
    (API Gateway appends the real address to X-Forwarded-For) with the site stage's mappings,
    then ClientAddressMiddleware."""
    event = {
        "path": "/", "httpMethod": "GET", "headers": headers,
        "multiValueHeaders": multi if multi is not None else {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"stage": "dev", "identity": {"sourceIp": REAL}},
    }
    environ = create_wsgi_request(event, binary_support=True,
                                  context_header_mappings=stage("site").get("context_header_mappings"))
    request = WSGIRequest(environ)
    seen = {}
    ClientAddressMiddleware(lambda r: seen.setdefault("addr", r.META["REMOTE_ADDR"]))(request)
    return seen["addr"]


def test_every_stage_behind_api_gateway_maps_the_source_ip_into_the_trusted_header():
    for name in ZAPPA_SETTINGS:
        config = stage(name)
        if config.get("apigateway_enabled", True) is False or config.get("lambda_handler"):
            continue  # no WSGI request through Zappa (the webhook has its own handler and reads no address)
        assert config.get("context_header_mappings", {}).get(settings.CLIENT_IP_HEADER) == "identity.sourceIp", name


def test_the_trusted_header_name_cannot_be_respelled_onto_the_same_environ_key():
    # Zappa turns "-" and "_" alike into "_": a caller's X_Client_Ip would land after a mapped X-Client-Ip.
    assert settings.CLIENT_IP_HEADER.isalpha() and settings.CLIENT_IP_HEADER == settings.CLIENT_IP_HEADER.title()


@pytest.mark.parametrize("forged_headers", [
    {"X-Forwarded-For": "203.0.113.9, " + REAL},
    {"X-Forwarded-For": "203.0.113.9, " + REAL, "Sourceip": "203.0.113.9"},
    {"X-Forwarded-For": REAL, "sourceip": "203.0.113.9"},
    {"X-Forwarded-For": REAL, "SOURCEIP": "203.0.113.9", "x-client-ip": "203.0.113.10"},
])
def test_what_the_caller_writes_in_its_headers_does_not_change_its_address(forged_headers):
    assert remote_addr(forged_headers) == REAL


def test_a_caller_cannot_slip_the_header_in_through_multi_value_headers():
    headers = {"X-Forwarded-For": "203.0.113.9, " + REAL}
    multi = {"X-Forwarded-For": ["203.0.113.9, " + REAL], "sourceip": ["203.0.113.9", "203.0.113.8"]}
    assert remote_addr(headers, multi=multi) == REAL


@pytest.mark.parametrize("value, expected", [(None, "10.0.0.5"), ("not-an-address", "10.0.0.5"),
                                             ("2001:db8::1", "2001:db8::1"), (" 192.0.2.4 ", "192.0.2.4")])
def test_without_a_usable_header_the_servers_address_stays(rf, value, expected):
    extra = {"HTTP_SOURCEIP": value} if value is not None else {}
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", **extra)
    ClientAddressMiddleware(lambda r: None)(request)
    assert request.META["REMOTE_ADDR"] == expected


def test_the_middleware_runs_before_anything_that_reads_the_address():
    middleware = list(settings.MIDDLEWARE)
    mine = middleware.index("project.core.client_ip.ClientAddressMiddleware")
    assert mine <= 1 and middleware.index("allauth.account.middleware.AccountMiddleware") > mine
