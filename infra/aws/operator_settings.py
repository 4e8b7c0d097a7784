"""
Settings for running the operator commands (project/ops) from a laptop against a deployed
stage: `STAGE=dev python manage.py doctor --settings=infra.aws.operator_settings`.

The stage's functions get their environment from the stage's rendered Zappa settings
(var/stages/<stage>/zappa_settings.json, written by `python -m infra.stages stack <stage>`
from infra/stages/<stage>.toml and the stack's outputs); this module gives the operator's
process the same one (the site function's aws_environment_variables), so the commands look
at the same secret, queues, bot and domain as the functions. A variable the operator sets
in the shell wins (e.g. TELEGRAM_API_BASE_URL for a test).

Two values a deployed stage reads from its secret are not needed by these commands, and may
not exist yet when the first ones run (put_bot_token writes them):
- the Django secret key: the commands sign nothing, so a throwaway key for this process;
- the database: its URL is taken from DATABASE_URL when set (e.g. through a tunnel);
  otherwise from the stage secret's database_url, read below before Django's settings (the
  one the functions use; replay_dead_letters and doctor's "database (here)" say when it
  does not connect from where the operator stands). With neither, a dummy backend: any
  query fails with ImproperlyConfigured instead of reaching a stand-in database.
Whether the functions themselves get DATABASE_URL is what their rendered environment says
(OPS_FUNCTIONS_HAVE_DATABASE_URL; normally not: they read database_url from the stage
secret), not what this process was given.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path

_BASE_DIR = Path(__file__).resolve().parents[2]
_stage = os.environ.get("STAGE", "")
_stages = sorted(p.stem for p in (_BASE_DIR / "infra" / "stages").glob("*.toml"))
# STAGE_SETTINGS_DIR: where infra.stages wrote the rendered settings (var/stages by default).
_rendered = Path(os.environ.get("STAGE_SETTINGS_DIR") or _BASE_DIR / "var" / "stages") / _stage / "zappa_settings.json"
if _stage not in _stages or not _rendered.exists():
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"Set STAGE to a deployed stage ({', '.join(_stages)}), not {_stage!r}, to run operator commands against it."
        if _stage not in _stages else
        f"No {_rendered}: run `python -m infra.stages settings {_stage}` (it reads the stack's "
        f"outputs), or `python -m infra.stages stack {_stage}` for a new stage."
    )
_zappa = json.loads(_rendered.read_text())
_site = _zappa[f"{_stage}_site"]
_functions_environment = _site.get("aws_environment_variables", {})
for _name, _value in _site.get("aws_environment_variables", {}).items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_REGION", _site["aws_region"])
os.environ.setdefault("DJANGO_SECRET_KEY", "operator-" + _random.token_urlsafe(32))
_database_url = os.environ.get("DATABASE_URL", "")
OPS_DATABASE_URL_SOURCE = "DATABASE_URL" if _database_url else ""
if not _database_url:
    # The operator has none: the one the functions use, from the stage secret (reachable from
    # here through a tunnel, or where the operator stands in the VPC; doctor says if not).
    try:
        from project.core.secrets import get_secret

        _database_url = get_secret("database_url", required=False) or ""
    except Exception:  # no credentials, no secret yet: the commands that need it say so
        _database_url = ""
    OPS_DATABASE_URL_SOURCE = "the stage secret" if _database_url else ""
os.environ["DATABASE_URL"] = _database_url or "sqlite:///:memory:"

from project.settings import *  # noqa: E402,F401,F403

OPS_FUNCTIONS_HAVE_DATABASE_URL = bool(_functions_environment.get("DATABASE_URL"))

if not _database_url:
    # Any query fails with ImproperlyConfigured instead of reaching a stand-in database.
    DATABASES = {"default": {"ENGINE": "django.db.backends.dummy"}}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # A private database seen from a laptop must fail fast, not after TCP's two minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)  # noqa: F405
