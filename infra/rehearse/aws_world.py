"""
AWS for the rehearsal: moto's server with IAM enforced, and the principals that act in it.

- moto runs in this process (ThreadedMotoServer), with infra/rehearse/moto_iam.py's
  corrections installed, and enforces IAM from the start: every request must be signed with
  keys moto knows and be allowed by their policies (`INITIAL_NO_AUTH_ACTION_COUNT` = 0
  once the two principals below exist; they are made through moto's IAM backend first).
- the operator: an IAM user with an administrator policy, whose keys the documented
  commands run with (as an operator's admin profile would);
- the Lambda service: an IAM user that may only `sts:AssumeRole`, trusted as the service
  principal `lambda.amazonaws.com` by moto_iam, so a function gets its role's credentials
  from moto's STS exactly when the role's trust policy lets Lambda assume it;
- `role_credentials(role_arn)`: AssumeRole through moto's STS API as the Lambda service.

Everything here speaks to moto over HTTP with SigV4; nothing reads moto's memory except
`sent_emails()` (moto keeps SES's sent mail only in memory; there is no API for it) and
`function_code()` (the deployment package, which Lambda itself would fetch internally).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ACCOUNT = "123456789012"
REGION = "eu-central-1"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
LAMBDA_SERVICE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/*"}]}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        values = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values


class AwsWorld:
    def __init__(self):
        self.server = None
        self.endpoint = ""
        self.operator: Keys | None = None
        self.lambda_service: Keys | None = None
        self.apigateway_service: Keys | None = None
        self._clients: dict[tuple, object] = {}

    def start(self) -> "AwsWorld":
        import os

        os.environ.setdefault("MOTO_ACCOUNT_ID", ACCOUNT)
        from moto import settings
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.server import ThreadedMotoServer

        from infra.rehearse import moto_apigateway, moto_iam

        moto_iam.install()
        moto_apigateway.install()
        # A fresh account: moto's state is per process, and a world starts empty.
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        # The resource types moto's CloudFormation lacks (deploy-ops' infra/local/moto_cfn.py).
        from infra.local import moto_cfn

        moto_cfn.install()
        _no_delivery_inside_moto()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.operator = self._user("rehearsal-operator", ADMIN_POLICY)
        self.lambda_service = self._user("rehearsal-lambda-service", LAMBDA_SERVICE_POLICY)
        moto_iam.trust_service_principal(f"arn:aws:iam::{ACCOUNT}:user/rehearsal-lambda-service", "lambda.amazonaws.com")
        # API Gateway assumes an integration's `credentials` role to invoke the function.
        self.apigateway_service = self._user("rehearsal-apigateway-service", LAMBDA_SERVICE_POLICY)
        moto_iam.trust_service_principal(f"arn:aws:iam::{ACCOUNT}:user/rehearsal-apigateway-service",
                                         "apigateway.amazonaws.com")
        # From here on every request is authenticated and authorized.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        return self

    def stop(self) -> None:
        self._clients.clear()
        if self.server is not None:
            self.server.stop()
            self.server = None
        # moto's settings are per process: leave it as other users of moto in it expect.
        from moto import settings

        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")

    def _user(self, name: str, policy: dict) -> Keys:
        from moto.iam.models import iam_backends

        iam = iam_backends[ACCOUNT]["aws"]
        iam.create_user(region_name=REGION, user_name=name, path="/", tags=[])
        iam.put_user_policy(name, "rehearsal", json.dumps(policy))
        key = iam.create_access_key(name)
        return Keys(key.access_key_id, key.secret_access_key)

    def client(self, service: str, keys: Keys | None = None, *, endpoint: str | None = None):
        """A client signed with `keys` (the operator's by default). Made once per service,
        keys and endpoint (about 0.2 s each, which every API Gateway request paid several
        times over), then shared: boto3's clients are thread-safe."""
        keys = keys or self.operator
        key = (service, keys, endpoint or self.endpoint)
        found = self._clients.get(key)
        if found is None:
            found = self._clients[key] = self._new_client(service, keys, endpoint)
        return found

    def _new_client(self, service: str, keys: Keys, endpoint: str | None):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            service, region_name=REGION, endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
            aws_session_token=keys.session_token,
            config=Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=30),
        )

    def role_credentials(self, role_arn: str, session_name: str, *, service: str = "lambda") -> Keys:
        """What Lambda gives a function: its role's temporary credentials (moto's STS).
        `service="apigateway"`: what API Gateway gets for an integration's credentials."""
        principal = self.apigateway_service if service == "apigateway" else self.lambda_service
        answer = self.client("sts", principal).assume_role(
            RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=3600)["Credentials"]
        return Keys(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])

    # --- what only moto's memory holds -----------------------------------------------------

    def sent_emails(self) -> list[dict]:
        """SES's sent mail (moto keeps it in memory; AWS delivers it instead)."""
        from moto.ses.models import ses_backends

        backend = ses_backends[ACCOUNT][REGION]
        found = []
        for message in backend.sent_messages:
            raw = getattr(message, "raw_data", None)
            found.append({
                "source": getattr(message, "source", ""),
                "destinations": getattr(message, "destinations", None),
                "raw": raw if isinstance(raw, str) else (raw.decode("utf-8", "replace") if raw else ""),
                "subject": getattr(message, "subject", ""),
                "body": getattr(message, "body", ""),
            })
        return found

    def function_code(self, function_name: str) -> bytes:
        """The deployment package of a function (Lambda fetches it internally)."""
        from moto.awslambda.models import lambda_backends

        function = lambda_backends[ACCOUNT][REGION].get_function(function_name)
        return function.code_bytes


def _no_delivery_inside_moto() -> None:
    """moto delivers a message to an SQS mapping's function itself, on every SendMessage: it
    *receives* the message (one more ApproximateReceiveCount, which the redrive policy and
    the sender's give-up on the last receive count), tries to run the function in Docker,
    fails here, and makes the message visible again. Lambda has one poller, the rehearsal's
    (sqs_source.py), so a queue's mappings are kept from moto's own delivery: it finds none."""
    from moto.sqs.models import Queue

    if isinstance(Queue.__dict__.get("lambda_event_source_mappings"), property):
        return

    def mappings(queue):
        return {}

    def keep_none(queue, value):
        pass

    Queue.lambda_event_source_mappings = property(mappings, keep_none)

