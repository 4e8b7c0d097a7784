"""
A whole stage on this machine, as AWS would run it: the pieces of the rehearsal, started
and wired together (see docs/REHEARSAL.md for the picture).

  AwsWorld        moto with IAM enforced (aws_world.py, moto_iam.py)
  AwsFront        moto's endpoints, Lambda Invoke run by the runtime (aws_front.py); also on
                  http://127.0.0.1:<port>, the documented commands' AWS_ENDPOINT_URL
  LambdaRuntime   each function from its package, isolated (runtime.py)
  ApiGatewayFront custom domains and execute-api hosts -> functions (apigateway.py)
  SqsEventSource  the event source mappings in moto (sqs_source.py)
  Network         HTTPS to every public name, through a CONNECT proxy (network.py)
  Telegram        the sandbox at Telegram's names (telegram.py)
  RdsInstance     a fresh PostgreSQL cluster for the stack's DB instance (rds.py), started
                  once the stack has made the instance
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from werkzeug.serving import make_server

from infra.rehearse.apigateway import ApiGatewayFront
from infra.rehearse.aws_front import AwsFront
from infra.rehearse.aws_world import REGION, AwsWorld
from infra.rehearse.network import Network, Route
from infra.rehearse.rds import RdsInstance
from infra.rehearse.runtime import LambdaRuntime, check_isolation
from infra.rehearse.runtime_deps import LAMBDA_ROOT
from infra.rehearse.sqs_source import SqsEventSource
from infra.rehearse.telegram import StageBot, stage_bot, start_telegram

BASE_DIR = Path(__file__).resolve().parents[2]
WORK_DIR = BASE_DIR / "var" / "rehearse"
# What the caller's environment must not pass to the documented commands (a CI's test
# database, another AWS account's profile, a developer's settings module).
NOT_INHERITED = ("AWS_", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "STAGE", "VIRTUAL_ENV", "PYTHONPATH",
                 "SECRETS_", "TELEGRAM_", "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")


class Stage:
    def __init__(self, stage: str = "dev", *, log=print):
        from infra.stages import config as stage_config

        self.name = stage
        self.config = stage_config.load(stage)
        self.log = log
        self.bot: StageBot = stage_bot(self.config.bot_id, self.config.bot_username)
        self._servers = []

    def start(self) -> "Stage":
        import logging

        check_isolation()
        # One line per step: not one per request of the in-process servers (werkzeug's access log).
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        self.world = AwsWorld().start()
        # The CA bundle is read by the functions too: outside /tmp, like their packages.
        self.network = Network(LAMBDA_ROOT / "tls").start()
        # The rehearsal's CA plays Amazon's RDS CA for the database (rds.py).
        self.runtime = LambdaRuntime(self.world, network_env=self.network.client_env(), log=self.log,
                                     extra_trust={"rds-ca-bundle.pem": self.network.ca.ca_file.read_bytes()})
        self.aws = AwsFront(self.world, self.runtime)
        aws_http = make_server("127.0.0.1", 0, self.aws, threaded=True)
        self._serve(aws_http)
        self.aws_endpoint = f"http://127.0.0.1:{aws_http.server_port}"
        self.apigw = ApiGatewayFront(self.world, self.runtime, self.aws_endpoint)
        # API Gateway serves the custom domains and execute-api hosts on 443 only.
        self.network.routes += [
            Route("api-gateway", (self.config.domain, self.config.webhook_domain, f"*.execute-api.{REGION}.amazonaws.com"),
                  self.apigw),
            Route("aws", ("*.amazonaws.com", "*.amazonaws.com.cn"), self.aws),
        ]
        self.telegram = start_telegram(self.network, self.bot)
        self.sqs = SqsEventSource(self.world, self.runtime, log=self.log).start()
        self.rds = RdsInstance()
        return self

    def _serve(self, server) -> None:
        import threading

        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)

    def stop(self) -> None:
        for step in (lambda: self.sqs.stop(), lambda: self.telegram.stop_delivery(), lambda: self.runtime.stop(),
                     lambda: self.rds.stop(), lambda: self.network.stop(), lambda: self.world.stop()):
            try:
                step()
            except Exception:  # stopping what may not have started
                pass
        for server in self._servers:
            server.shutdown()
            server.server_close()

    # --- the operator's shell ------------------------------------------------------------------

    def operator_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
        env.update(self.world.operator.env())
        env.update(self.network.client_env())
        env.update({"AWS_ENDPOINT_URL": self.aws_endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                    "PYTHONUNBUFFERED": "1"})
        # The operator's machine installs packages (the deploy virtualenv) from the registry
        # directly; everything else it reaches goes through the rehearsal's network.
        registries = "pypi.org,.pypi.org,files.pythonhosted.org,.pythonhosted.org"
        env["NO_PROXY"] = env["no_proxy"] = f"{env['NO_PROXY']},{registries}"
        return env

    def answers(self) -> dict[str, str]:
        """What the operator types at the documented commands' hidden prompts."""
        return {"Bot token": self.bot.token, "telegram_oidc_client_secret": self.bot.oidc_secret}

    # --- RDS, once the stack made the instance --------------------------------------------------

    def start_database(self) -> str:
        rds = self.world.client("rds")
        instances = rds.describe_db_instances()["DBInstances"]
        if not instances:
            raise RuntimeError("the stack made no DB instance")
        instance = instances[0]
        endpoint = instance["Endpoint"]
        secret = next((s for s in self.world.client("secretsmanager").list_secrets()["SecretList"]
                       if s["Name"].endswith("/database-admin")), None)
        if secret is None:
            raise RuntimeError("no database-admin secret in the stack")
        admin = json.loads(self.world.client("secretsmanager").get_secret_value(SecretId=secret["ARN"])["SecretString"])
        self.rds.start(endpoint["Address"], endpoint.get("Port", 5432), admin["username"], admin["password"],
                       self.network.ca.files_for(endpoint["Address"]))
        self.runtime.set_hosts({endpoint["Address"]: self.rds.address})
        return f"{endpoint['Address']}:{endpoint.get('Port', 5432)} (master {admin['username']})"

    def by_hand_after_the_stack(self) -> str:
        """What the operator does by hand while the first stack waits (docs/DEPLOY.md, step 1
        and "DNS"): the certificate's validation records created, so ACM issues it, and the
        link in the alarm subscription's mail followed."""
        from infra.local import moto_cfn
        from infra.rehearse.aws_world import ACCOUNT

        issued = moto_cfn.issue_certificates(ACCOUNT, REGION)
        confirmed = moto_cfn.confirm_subscriptions(ACCOUNT, REGION)
        if not issued:
            raise RuntimeError("the stack requested no certificate waiting for its DNS validation")
        if not confirmed:
            raise RuntimeError("the stack made no alarm subscription waiting for confirmation")
        return f"certificate for {', '.join(issued)} issued; alarm mail to {', '.join(confirmed)} confirmed"

    # --- what went wrong behind a failed step ------------------------------------------------

    def marks(self) -> tuple[int, int, int]:
        return len(self.runtime.failures), len(self.apigw.refusals), len(self.sqs.errors)

    def diagnostics(self, since: tuple[int, int, int]) -> list[str]:
        """Function errors, API Gateway refusals and event source errors since `since`."""
        lines = []
        for name, invocation in self.runtime.failures[since[0]:][-3:]:
            error = invocation.error or {}
            lines.append(f"{name}: {error.get('errorType')}: {str(error.get('errorMessage'))[:600]}")
            logged = [line for line in invocation.logs if line.strip() and not line.startswith(("START", "END", "REPORT"))]
            lines += [f"  | {line[:300]}" for line in logged[-12:]]
        lines += [f"API Gateway: {refusal}" for refusal in self.apigw.refusals[since[1]:][-3:]]
        lines += [f"SQS event source: {error[:400]}" for error in self.sqs.errors[since[2]:][-3:]]
        return lines

