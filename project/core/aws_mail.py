"""
Email through SES with the project's AWS client rules (`EMAIL_BACKEND` on deployed stages).

django-ses builds its own boto3 client, so without this it would have botocore's default
timeouts (60 s connect, 60 s read, several retries: see project/core/aws.py for why that
can hold a function past its timeout) and would ignore AWS_ENDPOINT_URL (it always uses
`https://email.<region>.amazonaws.com` unless told otherwise), which the deploy rehearsal
and `make dev` point at moto.
"""

from __future__ import annotations

import os

from django_ses import SESBackend as _DjangoSESBackend

from project.core.aws import client_config


class SESBackend(_DjangoSESBackend):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("aws_config", client_config())
        # boto3's own variables, as every other client honours them.
        endpoint = os.environ.get("AWS_ENDPOINT_URL_SES") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            kwargs.setdefault("aws_region_endpoint", endpoint)
        super().__init__(*args, **kwargs)
