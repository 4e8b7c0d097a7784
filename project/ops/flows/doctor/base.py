"""What every doctor check shares: findings, the report, and what earlier checks found."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, WARN, PROBLEM, SKIPPED = "ok", "warn", "problem", "skipped"


@dataclass
class Finding:
    check: str
    level: str
    message: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, check: str, level: str, message: str) -> None:
        # One line each: what is wrong and what to do.
        self.findings.append(Finding(check, level, " ".join(message.split())))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    @property
    def healthy(self) -> bool:
        return not self.problems

    def of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]


@dataclass
class Context:
    """What earlier checks found that later ones need."""

    secret: dict[str, str] | None = None
    token_ok: bool = False
    sender_timeout: int | None = None
    max_receive_count: int | None = None
    function_check: dict | None = None


def error_text(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def client(service: str):
    from project.core.aws import client as aws_client

    return aws_client(service)


def zappa(command: str) -> str:
    """A Zappa command line for this stage, as docs/DEPLOY.md writes it."""
    from django.conf import settings

    return f"zappa {command} -s var/stages/{settings.STAGE}/zappa_settings.json"


def zappa_upload(verb: str, kind: str) -> str:
    """`zappa deploy|update <stage>_<kind>` with the package infra.aws.package built for it
    (the manage function runs the site's), as docs/DEPLOY.md writes it: without --zip, Zappa
    would package this machine's virtualenv, wheels for the wrong platform included."""
    from django.conf import settings

    stage = settings.STAGE
    package = "site" if kind == "manage" else kind
    return f"{zappa(f'{verb} {stage}_{kind}')} --zip var/packages/{stage}/{stage}_{package}.zip"


def resource_name(suffix: str) -> str:
    """<project>-<stage>-<suffix>, as the stack names what it makes."""
    from django.conf import settings

    from project.ops import conf

    return f"{conf.project_name()}-{settings.STAGE}-{suffix}"
