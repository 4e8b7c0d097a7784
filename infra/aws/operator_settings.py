"""
Settings for running the operator commands (project/ops) from a laptop against a deployed
stage: `STAGE=dev python manage.py doctor --settings=infra.aws.operator_settings`.

The stage's functions get their environment from zappa_settings.json; this module gives the
operator's process the same one (the site stage's aws_environment_variables), so the
commands look at the same secret, queues, bot and domain as the functions. A variable the
operator sets in the shell wins (e.g. TELEGRAM_API_BASE_URL for a test).

Two values a deployed stage reads from its secret are not needed by these commands, and may
not exist yet when the first ones run (put_bot_token writes them):
- the Django secret key: the commands sign nothing, so a throwaway key for this process;
- the database: its URL is taken from DATABASE_URL when set (e.g. through a tunnel);
  otherwise the commands run without one, and doctor says it could not check the Site
  record from here.
Whether the functions themselves get DATABASE_URL is what their environment in
zappa_settings.json says (OPS_FUNCTIONS_HAVE_DATABASE_URL; normally not: they read
database_url from the stage secret), not what this process was given.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path

_BASE_DIR = Path(__file__).resolve().parents[2]
_stage = os.environ.get("STAGE", "")
_zappa = json.loads((_BASE_DIR / "zappa_settings.json").read_text())
if f"{_stage}_site" not in _zappa:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"Set STAGE to a deployed stage ({', '.join(sorted(k[:-5] for k in _zappa if k.endswith('_site')))}), "
        f"not {_stage!r}, to run operator commands against it."
    )
_site = _zappa[f"{_stage}_site"]
_functions_environment = _site.get("aws_environment_variables", {})
for _name, _value in _site.get("aws_environment_variables", {}).items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_REGION", _site.get("aws_region") or _zappa["dev_site"]["aws_region"])
os.environ.setdefault("DJANGO_SECRET_KEY", "operator-" + _random.token_urlsafe(32))
_database_url = os.environ.get("DATABASE_URL", "")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

from project.settings import *  # noqa: E402,F401,F403

OPS_FUNCTIONS_HAVE_DATABASE_URL = bool(_functions_environment.get("DATABASE_URL"))

if not _database_url:
    # Any query fails with ImproperlyConfigured instead of reaching a stand-in database.
    DATABASES = {"default": {"ENGINE": "django.db.backends.dummy"}}
