"""
boto3 clients, one per service per container.

Creating a client costs about 200 ms, so it happens on first use, never at import time, and
the client is reused for the life of the container. AWS_ENDPOINT_URL (boto3's own variable)
points every client at moto locally.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def client(service: str):
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1"
    try:
        from django.conf import settings

        region = getattr(settings, "AWS_REGION", region)
    except Exception:  # settings not configured yet (settings.py reading the secret)
        pass
    return boto3.session.Session().client(service, region_name=region)


def reset_clients() -> None:
    """Drop cached clients (tests that switch moto on and off)."""
    client.cache_clear()
