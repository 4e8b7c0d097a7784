"""
A stage's configuration (infra/stages/<stage>.toml): read, checked, and what follows from it.

The file holds only what an operator chooses (domains, bot, region, sizes, alarm address);
everything AWS assigns (account id, ARNs, queue URLs, subnets, the database's address) comes
from the stack's outputs. From the two together `infra.stages.render` writes the Zappa
settings of the stage, and `infra.stages.stack` the stack's parameters.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
STAGES_DIR = Path(__file__).resolve().parent
PROJECT_NAME = "meetups"
KINDS = ("site", "webhook", "sender", "manage")
# The stages project/settings.py deploys (its STAGES but local and test): a function started
# with any other STAGE refuses to run, so a file for another name could only fail later.
DEPLOYED_STAGES = ("dev", "prod")

# PostgreSQL's max_connections on RDS is LEAST(DBInstanceClassMemory / 9531392, 5000); these
# are the values RDS reports for the classes a stage of this size would use (rounded down).
RDS_MAX_CONNECTIONS = {
    "db.t4g.micro": 80,
    "db.t4g.small": 180,
    "db.t4g.medium": 400,
    "db.t4g.large": 800,
    "db.m7g.large": 800,
}
# What the connection budget keeps aside: RDS's reserved superuser slots, the manage
# function (lambda_concurrency 1), and an operator's own sessions (doctor, replay, psql).
RESERVED_CONNECTIONS = {"rds superuser": 5, "manage function": 1, "operator": 5}

_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


class StageConfigError(ValueError):
    """The stage's file is missing or says something that cannot work; the message says what."""


@dataclass(frozen=True)
class Sizes:
    site_memory_mb: int = 1024
    site_concurrency: int = 20
    webhook_memory_mb: int = 512
    webhook_concurrency: int = 10
    sender_memory_mb: int = 512
    sender_max_concurrency: int = 2
    database_class: str = "db.t4g.micro"
    database_storage_gb: int = 20
    database_multi_az: bool = False


@dataclass(frozen=True)
class StageConfig:
    stage: str
    region: str
    domain: str
    webhook_domain: str
    bot_id: str
    bot_username: str
    alarm_email: str = ""
    login_flows: str = "legacy,oidc"
    mail_from: str = ""
    certificate_arn: str = ""
    sizes: Sizes = field(default_factory=Sizes)

    @property
    def stack_name(self) -> str:
        return f"{PROJECT_NAME}-{self.stage}"

    def function_name(self, kind: str) -> str:
        return f"{PROJECT_NAME}-{self.stage}-{kind}"

    def zappa_stage(self, kind: str) -> str:
        return f"{self.stage}_{kind}"

    @property
    def webhook_url(self) -> str:
        return f"https://{self.webhook_domain}/telegram/webhook"

    @property
    def from_email(self) -> str:
        return self.mail_from or f"Meetups ({self.stage}) <no-reply@{self.domain}>"

    def connection_budget(self) -> list[tuple[str, int]]:
        """Each function's most connections at once (one per warm container), then what is kept aside."""
        s = self.sizes
        return [
            ("site (reserved concurrency)", s.site_concurrency),
            ("webhook (reserved concurrency)", s.webhook_concurrency),
            ("sender (event source MaximumConcurrency)", s.sender_max_concurrency),
            *RESERVED_CONNECTIONS.items(),
        ]

    def max_connections(self) -> int:
        return RDS_MAX_CONNECTIONS[self.sizes.database_class]


def path_of(stage: str) -> Path:
    return STAGES_DIR / f"{stage}.toml"


def stages() -> list[str]:
    return sorted(p.stem for p in STAGES_DIR.glob("*.toml"))


def load(stage: str, path: Path | None = None) -> StageConfig:
    path = path or path_of(stage)
    if not re.fullmatch(r"[a-z][a-z0-9]{1,15}", stage or ""):
        raise StageConfigError(f"A stage is a short lowercase name (dev, prod), not {stage!r}.")
    if stage not in DEPLOYED_STAGES:
        raise StageConfigError(
            f"project/settings.py deploys only {' and '.join(DEPLOYED_STAGES)}, not {stage!r}: its functions would refuse "
            "to start. Add the name to STAGES and DEPLOYED there (and to DEPLOYED_STAGES here) first."
        )
    if not path.exists():
        raise StageConfigError(f"There is no {path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path}: copy infra/stages/dev.toml and edit it.")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise StageConfigError(f"{path.name} is not valid TOML: {exc}") from None
    sizes_data = data.pop("sizes", {})
    known = set(StageConfig.__dataclass_fields__) - {"stage", "sizes"}
    unknown = sorted(set(data) - known) + sorted(f"sizes.{k}" for k in set(sizes_data) - set(Sizes.__dataclass_fields__))
    if unknown:
        raise StageConfigError(f"{path.name}: unknown keys {', '.join(unknown)}.")
    missing = [k for k in ("region", "domain", "webhook_domain", "bot_id", "bot_username") if not data.get(k)]
    if missing:
        raise StageConfigError(f"{path.name} lacks {', '.join(missing)}.")
    config = StageConfig(stage=stage, sizes=Sizes(**sizes_data), **{k: str(v) for k, v in data.items()})
    check(config)
    return config


def check(config: StageConfig) -> None:
    """What AWS or Telegram would refuse later, refused now with the fix."""
    name = f"{config.stage}.toml"
    for key in ("domain", "webhook_domain"):
        if not _DOMAIN.match(getattr(config, key)):
            raise StageConfigError(f"{name}: {key} {getattr(config, key)!r} is not a lowercase domain name.")
    if config.domain == config.webhook_domain:
        raise StageConfigError(f"{name}: webhook_domain must differ from domain (one API per custom domain).")
    if not config.bot_id.isdigit():
        raise StageConfigError(f"{name}: bot_id is the digits before ':' in the bot's token, not {config.bot_id!r}.")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}[Bb][Oo][Tt]", config.bot_username.lstrip("@")):
        raise StageConfigError(f"{name}: bot_username {config.bot_username!r} is not a bot's username (it ends in 'bot').")
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", config.region):
        raise StageConfigError(f"{name}: region {config.region!r} is not an AWS region.")
    if config.certificate_arn and f":acm:{config.region}:" not in config.certificate_arn:
        raise StageConfigError(
            f"{name}: certificate_arn must be in {config.region} (regional API Gateway domains take a certificate "
            "of their own region); leave it empty and the stack requests one."
        )
    flows = {f.strip() for f in config.login_flows.split(",") if f.strip()}
    if not flows or flows - {"legacy", "oidc"}:
        raise StageConfigError(f"{name}: login_flows is a comma-separated list of legacy and oidc.")
    s = config.sizes
    if not 2 <= s.sender_max_concurrency <= 1000:
        raise StageConfigError(f"{name}: sizes.sender_max_concurrency must be 2 to 1000 (what an SQS event source allows).")
    for key in ("site_concurrency", "webhook_concurrency"):
        if getattr(s, key) < 1:
            raise StageConfigError(f"{name}: sizes.{key} must be at least 1.")
    if s.database_class not in RDS_MAX_CONNECTIONS:
        raise StageConfigError(f"{name}: sizes.database_class must be one of {', '.join(RDS_MAX_CONNECTIONS)}.")
    used = sum(n for _, n in config.connection_budget())
    if used > config.max_connections():
        raise StageConfigError(
            f"{name}: the functions could open {used} database connections at once, but a {s.database_class} "
            f"allows {config.max_connections()}: lower sizes.site_concurrency or webhook_concurrency, or take a "
            "larger database_class (docs/DEPLOY.md, \"Connections\")."
        )
