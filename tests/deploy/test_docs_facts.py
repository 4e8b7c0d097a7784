"""
What docs/DEPLOY.md and docs/DEPENDENCIES.md say about the deployed cache and the AWS SDK
matches what the code and the packages do.
"""

from __future__ import annotations

import re

from . import zappa_stages
from .zappa_stages import BASE_DIR

DEPLOY = (BASE_DIR / "docs" / "DEPLOY.md").read_text()
DEPENDENCIES = (BASE_DIR / "docs" / "DEPENDENCIES.md").read_text()


def _shell_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S)


def test_no_createcachetable_step_the_migrations_make_the_cache_table():
    """Contract C7: `migrate` (prepare_release) makes the cache table; nothing an operator or a
    tool runs for a stage has a separate step that a new stage could miss or that would hide a
    missing migration."""
    places = {"docs/DEPLOY.md": _shell_blocks(DEPLOY), "Makefile": [(BASE_DIR / "Makefile").read_text()],
              ".ci/run": [(BASE_DIR / ".ci" / "run").read_text()]}
    for folder in ("infra/aws", "infra/stages", "infra/rehearse", "project/ops"):
        places[folder] = [p.read_text() for p in (BASE_DIR / folder).rglob("*.py")]
    for where, texts in places.items():
        assert not any("createcachetable" in text for text in texts), where
    assert "prepare_release" in "".join(_shell_blocks(DEPLOY))
    from project.core.cache import TABLE

    assert f"`{TABLE}`, which `migrate` makes" in " ".join(DEPLOY.split())


def test_a_redis_cache_is_documented_with_noeviction():
    """Rate limits and used sign-in hashes all expire, so any evicting maxmemory policy drops
    exactly them; settings read REDIS_URL, and the docs say what such a Redis must run with."""
    assert 'REDIS_URL = env("REDIS_URL")' in (BASE_DIR / "project" / "settings.py").read_text()
    text = " ".join(DEPLOY.split())
    assert "`REDIS_URL`" in text and "`maxmemory-policy noeviction`" in text
    assert "volatile-lru" in text  # ElastiCache's default, which would evict them


def test_the_functions_run_the_runtimes_boto3_as_the_dependencies_say():
    from infra.rehearse.runtime_deps import RUNTIME_SDK

    runtime = dict(pin.split("==") for pin in RUNTIME_SDK)
    for kind in zappa_stages.KINDS:
        entry = zappa_stages.rendered("dev")[f"dev_{kind}"]
        assert {"boto3", "botocore", "s3transfer"} <= set(entry["exclude"]), kind
    (row,) = [line for line in DEPENDENCIES.splitlines() if line.startswith("| boto3 |")]
    assert f"boto3 and botocore {runtime['boto3']}" in row and runtime["boto3"] == runtime["botocore"]
    assert "for tests and tools" in row and "keeps tests and Lambda on one version" not in row
