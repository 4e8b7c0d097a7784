"""
doctor probes the site and the webhook from the operator's machine the way every other tool
of the deploy path goes out: through the environment's proxy (HTTPS_PROXY, NO_PROXY), trusting
the CA bundle it names (SSL_CERT_FILE, or requests' REQUESTS_CA_BUNDLE), certificates verified.
Here the "internet" is the rehearsal's network: a CONNECT proxy and TLS from a CA of its own,
the only way to the two names.
"""

from __future__ import annotations

import pytest

from project.ops.flows.doctor.base import OK, PROBLEM, Context, Report

SECRET = "doctor-probe-secret-0123456789"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                   "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def site(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<html>home</html>"]


def webhook(environ, start_response):
    right = environ.get("HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN") == SECRET
    start_response("400 Bad Request" if right else "401 Unauthorized", [("Content-Type", "text/plain")])
    return [b""]


@pytest.fixture(scope="module")
def internet(tmp_path_factory):
    from infra.rehearse.network import Network, Route

    running = Network(tmp_path_factory.mktemp("tls"), routes=[
        Route("site", ("dev.meetups.example.test",), site), Route("webhook", ("tg.dev.meetups.example.test",), webhook),
    ]).start()
    yield running
    running.stop()


@pytest.fixture
def behind_the_proxy(internet, monkeypatch, settings):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", internet.proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    settings.SITE_DOMAIN = "dev.meetups.example.test"
    settings.SITE_URL = "https://dev.meetups.example.test"
    settings.TELEGRAM_WEBHOOK_URL = "https://tg.dev.meetups.example.test/telegram/webhook"
    return internet


def probe() -> Report:
    from project.ops.flows.doctor.database import check_site
    from project.ops.flows.doctor.webhook import check_webhook_secret

    report = Report()
    check_webhook_secret(report, Context(secret={"telegram_webhook_secret": SECRET}))
    check_site(report, Context())
    return report


@pytest.mark.django_db
@pytest.mark.parametrize("bundle_variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_doctor_goes_out_through_the_proxy_and_trusts_the_bundle_it_is_given(behind_the_proxy, monkeypatch,
                                                                             bundle_variable):
    from django.contrib.sites.models import Site

    Site.objects.update_or_create(id=1, defaults={"domain": "dev.meetups.example.test", "name": "dev"})
    monkeypatch.setenv(bundle_variable, str(behind_the_proxy.ca.bundle))
    report = probe()
    assert [(f.check, f.level) for f in report.of("webhook secret")] == [("webhook secret", OK)], report.findings
    assert [f.level for f in report.of("site")] == [OK], report.findings


@pytest.mark.django_db
def test_a_certificate_the_operator_does_not_trust_is_still_refused(behind_the_proxy):
    """No bundle named: the proxy's CA is not trusted, so both probes fail (never unverified)."""
    report = probe()
    assert [f.level for f in report.of("webhook secret")] == [PROBLEM]
    assert "Cannot reach the webhook" in report.of("webhook secret")[0].message
    assert [f.level for f in report.of("site")] == [PROBLEM]
