"""
What a stage costs a month, at rest and at 10,000 notifications a day, computed from what the
stack makes (infra/aws/stack.yaml: its resources are counted, not assumed) and the stage's
sizes (infra/stages/<stage>.toml): `.venv/bin/python -m bench.stage_cost [dev|prod]`.

Prices: AWS's public list prices for eu-central-1 (Frankfurt), on-demand, late 2025, without
the free tier (which makes most of the Lambda, SQS and SNS lines $0 for a small account).
Change PRICES when they move; docs/DEPLOY.md shows this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

HOURS = 730  # a month
PRICES = {
    "nat_hour": 0.052, "nat_gb": 0.052, "ipv4_hour": 0.005,
    "rds_hour": {"db.t4g.micro": 0.018, "db.t4g.small": 0.036, "db.t4g.medium": 0.072, "db.t4g.large": 0.144,
                 "db.m7g.large": 0.192},
    "rds_gp3_gb": 0.138,
    "secret": 0.40, "secret_10k_calls": 0.05,
    "alarm": 0.10,
    "logs_ingest_gb": 0.63, "logs_store_gb": 0.0324,
    "sqs_million": 0.40,
    "lambda_gb_second": 0.0000166667, "lambda_million": 0.20,
    "apigw_million": 3.70,
    "ses_thousand": 0.10,
    "s3_month": 0.02,
}
NOTIFICATIONS_PER_DAY = 10_000
# Assumptions for the busy column, per notification: what makes it (two site requests: the
# action that caused it, and the visit it leads to), how it travels (one SendMessage from the
# site, the sender's receive + delete, one sender invocation per batch of ~5), how it ends
# (one Bot API call through the NAT, ~4 KB with TLS; one in ten by email through SES), and
# ~2 KB of logs along the way.
SITE_REQUESTS, SITE_SECONDS, SENDER_SECONDS, BATCH = 2, 0.15, 0.4, 5
NAT_KB, LOG_KB, EMAIL_SHARE = 4, 2, 0.10
# At rest: the sweep every 5 minutes; Lambda's SQS pollers long-poll the outbox constantly
# (about 15 ReceiveMessage calls a minute with no traffic, AWS's published behaviour).
SWEEPS, SWEEP_SECONDS, IDLE_POLLS = 12 * 24 * 30, 0.3, 15 * 60 * 24 * 30


def resources(template_path: Path) -> dict[str, int]:
    from cfnlint.decode import cfn_yaml

    counts: dict[str, int] = {}
    for resource in cfn_yaml.loads(template_path.read_text())["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    return counts


def costs(stage: str) -> list[tuple[str, float, float]]:
    from infra.stages import config

    cfg = config.load(stage)
    sizes = cfg.sizes
    made = resources(config.BASE_DIR / "infra" / "aws" / "stack.yaml")
    n = NOTIFICATIONS_PER_DAY * 30
    p = PRICES
    az = 2 if sizes.database_multi_az else 1
    site_gb, sender_gb = sizes.site_memory_mb / 1024, sizes.sender_memory_mb / 1024

    nat_rest = made.get("AWS::EC2::NatGateway", 0) * p["nat_hour"] * HOURS
    ipv4 = made.get("AWS::EC2::EIP", 0) * p["ipv4_hour"] * HOURS
    database = made.get("AWS::RDS::DBInstance", 0) * az * (
        p["rds_hour"][sizes.database_class] * HOURS + sizes.database_storage_gb * p["rds_gp3_gb"])
    secrets = made.get("AWS::SecretsManager::Secret", 0) * p["secret"]
    alarms = made.get("AWS::CloudWatch::Alarm", 0) * p["alarm"]
    sweep = SWEEPS * (SWEEP_SECONDS * site_gb * p["lambda_gb_second"] + p["lambda_million"] / 1e6)
    polls = IDLE_POLLS * p["sqs_million"] / 1e6
    rows = [
        ("NAT gateway (the private functions' way out)", nat_rest, nat_rest + n * NAT_KB / 1e6 * p["nat_gb"]),
        ("public IPv4 address of the NAT", ipv4, ipv4),
        (f"PostgreSQL {sizes.database_class}, {sizes.database_storage_gb} GB gp3{', Multi-AZ' if az == 2 else ''}",
         database, database),
        (f"Secrets Manager ({made.get('AWS::SecretsManager::Secret', 0)} secrets)", secrets,
         secrets + (SWEEPS + n / BATCH) / 1e4 * p["secret_10k_calls"] * 0.01),  # cached per container
        (f"CloudWatch alarms ({made.get('AWS::CloudWatch::Alarm', 0)})", alarms, alarms),
        ("CloudWatch logs", 0.01, n * LOG_KB / 1e6 * (p["logs_ingest_gb"] + p["logs_store_gb"])),
        ("SQS (idle long polls; per notification send, receive, delete)", polls,
         polls + n * (1 + 2 / BATCH) * p["sqs_million"] / 1e6),
        ("Lambda (the sweep; site and sender invocations)", sweep,
         sweep + n * SITE_REQUESTS * (SITE_SECONDS * site_gb * p["lambda_gb_second"] + p["lambda_million"] / 1e6)
         + n / BATCH * (SENDER_SECONDS * BATCH * sender_gb * p["lambda_gb_second"] + p["lambda_million"] / 1e6)),
        ("API Gateway REST (site requests)", 0.0, n * SITE_REQUESTS * p["apigw_million"] / 1e6),
        ("SES (one notification in ten by email)", 0.0, n * EMAIL_SHARE / 1e3 * p["ses_thousand"]),
        ("S3 (Zappa's packages), ACM, EventBridge, SNS", p["s3_month"], p["s3_month"]),
    ]
    return rows


def main(argv: list[str]) -> int:
    stages = argv or ["dev", "prod"]
    for stage in stages:
        rows = costs(stage)
        print(f"\nStage {stage}: USD a month, eu-central-1 list prices, no free tier")
        print(f"{'item':60} {'at rest':>9} {'10k/day':>9}")
        for name, rest, busy in rows:
            print(f"{name:60} {rest:9.2f} {busy:9.2f}")
        print(f"{'total':60} {sum(r[1] for r in rows):9.2f} {sum(r[2] for r in rows):9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
