"""
Creating the stage's database and its user, from inside the stage's network:

    zappa invoke <stage>_manage project.ops.database_setup.handler -s var/stages/<stage>/zappa_settings.json

The database is private, so this runs in the manage function (the site's package, in the
stage's subnets, role meetups-<stage>-manage). It connects as the master user the stack made
(DATABASE_ADMIN_SECRET: {"username", "password"}, at DATABASE_HOST:DATABASE_PORT, TLS
verified against the RDS CA bundle in the package), creates the application's role with a
fresh random password and the database it owns, and writes database_url into the stage
secret; every function reads it from there. Run again, it keeps the database and gives the
role a new password (the URL in the secret follows), so it also rotates that password.

No Django here: Django's settings need database_url, which this is what writes (the manage
function's handler, handlers/manage.py, runs this without setting Django up). Nothing
secret is returned or logged. DATABASE_ADMIN_URL, when set, replaces the admin secret and
host (a rehearsal's own PostgreSQL); its TLS parameters then carry over to database_url.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

CA_BUNDLE = "project/core/certs/rds-ca-bundle.pem"  # relative: settings.py resolves it in the package
APP_DATABASE = "meetups"
APP_USER = "meetups_app"
BASE_DIR = Path(__file__).resolve().parents[2]


def _client(service: str):
    from project.core.aws import client

    return client(service)


def admin_url() -> tuple[str, dict[str, str]]:
    """The master user's connection URL and the TLS parameters database_url should carry."""
    override = os.environ.get("DATABASE_ADMIN_URL", "")
    if override:
        query = dict(parse_qsl(urlsplit(override).query))
        return override, {k: v for k, v in query.items() if k in ("sslmode", "sslrootcert")}
    secret_id, host = os.environ.get("DATABASE_ADMIN_SECRET", ""), os.environ.get("DATABASE_HOST", "")
    if not secret_id or not host:
        raise RuntimeError("DATABASE_ADMIN_SECRET and DATABASE_HOST are not set: run this in the <stage>_manage function.")
    admin = json.loads(_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    tls = {"sslmode": "verify-full", "sslrootcert": CA_BUNDLE}
    port = os.environ.get("DATABASE_PORT", "5432")
    url = (f"postgresql://{quote(admin['username'], safe='')}:{quote(admin['password'], safe='')}@{host}:{port}/postgres?"
           + urlencode({**tls, "sslrootcert": str(BASE_DIR / CA_BUNDLE)}))
    return url, tls


def app_url(admin: str, tls: dict[str, str], password: str) -> str:
    parts = urlsplit(admin)
    query = urlencode(tls)
    return f"postgres://{APP_USER}:{quote(password, safe='')}@{parts.hostname}:{parts.port or 5432}/{APP_DATABASE}" + (
        f"?{query}" if query else ""
    )


def create_database() -> dict[str, object]:
    import psycopg
    from psycopg import sql

    url, tls = admin_url()
    password = _random.token_urlsafe(32)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        role_existed = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_USER]).fetchone() is not None
        verb = "ALTER" if role_existed else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(APP_USER), sql.Literal(password)))
        database_existed = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [APP_DATABASE]).fetchone() is not None
        if not database_existed:
            # The master user must be a member of the owner to hand the database over (RDS
            # has no superuser); it stays one so migrations' ownership never gets in the way.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(APP_USER)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP_DATABASE), sql.Identifier(APP_USER)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(APP_DATABASE)))
    # Only then the secret: a failure above leaves the old URL in place.
    secretsmanager = _client("secretsmanager")
    name = os.environ["SECRETS_NAME"]
    current = secretsmanager.get_secret_value(SecretId=name).get("SecretString") or "{}"
    values = json.loads(current) if current.strip() else {}
    values["database_url"] = app_url(url, tls, password)
    secretsmanager.put_secret_value(SecretId=name, SecretString=json.dumps(values))
    _follow_in_this_container(password)
    return {
        "database": APP_DATABASE, "user": APP_USER, "created_user": not role_existed,
        "created_database": not database_existed, "tls": tls.get("sslmode", "off"), "secret": name,
    }


def _follow_in_this_container(password: str) -> None:
    """A manage container that already set Django up (it ran a command before this one)
    holds the old password in its settings: give its connection the new one, so the next
    `zappa manage` in the same warm container connects. (The other functions' containers
    keep the old one until they restart: docs/DEPLOY.md says to update them after a re-run.)"""
    import sys

    if "django.db" not in sys.modules:
        return
    from django.conf import settings

    if not settings.configured or settings.DATABASES["default"].get("USER") != APP_USER:
        return
    from django.db import connections

    connection = connections["default"]
    connection.close()
    settings.DATABASES["default"]["PASSWORD"] = connection.settings_dict["PASSWORD"] = password


def handler(event, context):
    """Lambda entry point (Zappa's {"command": "project.ops.database_setup.handler"})."""
    result = create_database()
    print(f"database {result['database']} ({'created' if result['created_database'] else 'kept'}), user {result['user']} "
          f"({'created' if result['created_user'] else 'new password'}), TLS {result['tls']}; database_url written to {result['secret']}.")
    return result
