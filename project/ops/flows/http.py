"""
HTTP from the operator's machine (doctor's probes of the site and the webhook).

An operator behind a corporate proxy, or whose network re-signs TLS with its own CA, has
that in the environment, and every other tool of the deploy path honours it (boto3, pip,
Zappa, python-telegram-bot): `HTTPS_PROXY`/`HTTP_PROXY` and `NO_PROXY`, and a CA bundle in
`SSL_CERT_FILE` (or `SSL_CERT_DIR`), which httpx reads itself when it trusts the
environment. requests' and curl's names for the bundle (`REQUESTS_CA_BUNDLE`,
`CURL_CA_BUNDLE`), which many such setups export instead, are honoured too: httpx ignores
them. Certificates are always verified.
"""

from __future__ import annotations

import os

REQUESTS_STYLE_BUNDLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def client(**kwargs):
    import ssl

    import httpx

    verify: bool | ssl.SSLContext = True  # httpx: SSL_CERT_FILE / SSL_CERT_DIR, else certifi's CAs
    if not os.environ.get("SSL_CERT_FILE") and not os.environ.get("SSL_CERT_DIR"):
        bundle = next((os.environ[name] for name in REQUESTS_STYLE_BUNDLES if os.environ.get(name)), "")
        if bundle:
            verify = ssl.create_default_context(cafile=bundle)
    return httpx.Client(trust_env=True, verify=verify, **kwargs)
