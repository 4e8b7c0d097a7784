"""doctor: the database from here and from the site function itself, migrations, cache table, the site."""

from __future__ import annotations

import json
import logging

from django.conf import settings

from project.ops import conf
from project.ops.flows import http as operator_http

from .base import OK, PROBLEM, SKIPPED, WARN, Context, Report, client, error_text, zappa, zappa_upload

logger = logging.getLogger(__name__)


FUNCTION_CHECK = "project.ops.function_check.handler"


def check_database_here(report: Report, ctx: Context) -> None:
    """The database URL the functions use, from where the operator stands."""
    from django.db import DatabaseError, connection

    source = getattr(settings, "OPS_DATABASE_URL_SOURCE", "DATABASE_URL")
    if connection.vendor == "dummy" or not source:
        report.add("database (here)", SKIPPED, "No database URL from here (no DATABASE_URL, none in the stage secret yet): "
                   f"{zappa(f'invoke {settings.STAGE}_manage project.ops.database_setup.handler')} creates it.")
        return
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        report.add("database (here)", WARN, f"The database URL from {source} does not connect from here ({first}): expected for "
                   "the private database (the commands that need it run in the manage function: docs/DEPLOY.md, \"Dead letters\").")
        return
    from project.ops.function_check import pending_migrations

    pending = pending_migrations(connection)
    if pending:
        report.add("database (here)", PROBLEM, f"{len(pending)} migrations this code needs are not applied ({', '.join(pending[:5])}): "
                   f"{zappa(f'manage {settings.STAGE}_manage migrate')}.")
    else:
        report.add("database (here)", OK, f"The database URL from {source} connects from here; no migration is pending.")


def invoke_function_check(kind: str = "site") -> dict:
    """Ask the function itself (Zappa's {"command": ...} event); raises on a function error."""
    answer = client("lambda").invoke(
        FunctionName=conf.function_name(kind), InvocationType="RequestResponse",
        Payload=json.dumps({"command": FUNCTION_CHECK}).encode(),
    )
    payload = answer["Payload"].read()
    if answer.get("FunctionError"):
        try:
            detail = json.loads(payload).get("errorMessage", "")
        except (ValueError, AttributeError):
            detail = payload[:200].decode(errors="replace")
        raise RuntimeError(f"{answer['FunctionError']} error: {detail}")
    return json.loads(payload or b"null") or {}


def check_database_in_function(report: Report, ctx: Context) -> None:
    """The site function's own view: its database, pending migrations, the cache table, TLS."""
    try:
        answer = invoke_function_check("site")
    except Exception as exc:
        report.add("database (site function)", PROBLEM, f"The site function's check failed ({error_text(exc)}): read its logs "
                   f"({zappa(f'tail {settings.STAGE}_site --since 1h')}).")
        return
    ctx.function_check = answer
    if answer.get("database") != "ok":
        report.add("database (site function)", PROBLEM, f"The site function cannot reach its database ({answer.get('database')}): "
                   f"check database_url in the stage secret ({zappa(f'invoke {settings.STAGE}_manage project.ops.database_setup.handler')} "
                   "writes it) and the database's security group.")
        return
    report.add("database (site function)", OK, f"The site function reaches its database ({answer.get('vendor')}).")
    pending = answer.get("pending_migrations") or []
    if pending:
        report.add("migrations", PROBLEM, f"{len(pending)} migrations the site's code needs are not applied ({', '.join(pending[:5])}): "
                   f"{zappa(f'manage {settings.STAGE}_manage migrate')}.")
    else:
        report.add("migrations", OK, "Every migration the site's code has is applied.")
    if answer.get("cache_table") is False:
        report.add("cache table", PROBLEM, f"The cache table is missing (sign-in answers 500): {zappa(f'manage {settings.STAGE}_manage migrate')}.")
    elif answer.get("cache_table"):
        report.add("cache table", OK, "The cache table exists.")
    if answer.get("vendor") == "postgresql" and answer.get("tls") != "verify-full":
        report.add("database (site function)", WARN, f"The site's database_url does not verify the server's certificate "
                   f"(sslmode={answer.get('tls') or 'unset'}): {zappa(f'invoke {settings.STAGE}_manage project.ops.database_setup.handler')} writes one that does.")
    env = answer.get("environment") or {}
    missing = [name for name, present in env.items() if not present]
    if missing:
        report.add("functions", PROBLEM, f"The site function runs without {', '.join(missing)}: {zappa_upload('update', 'site')}.")


def check_site(report: Report, ctx: Context) -> None:
    import httpx
    from django.contrib.sites.models import Site
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError

    domain = settings.SITE_DOMAIN
    try:
        site = Site.objects.filter(id=settings.SITE_ID).first()
    except (DatabaseError, ImproperlyConfigured) as exc:
        report.add(
            "site domain", SKIPPED,
            f"No database from here ({type(exc).__name__}); the Site record is not checked from here (the site "
            "function's own check above counts).",
        )
        site = False
    if site is None:
        report.add("site domain", PROBLEM, f"There is no Site record {settings.SITE_ID}: run `{zappa(f'manage {settings.STAGE}_manage ensure_site')}`.")
    elif site and site.domain != domain:
        report.add("site domain", PROBLEM, f"The Site record says {site.domain}, but SITE_DOMAIN is {domain}: emails and sign-in links would point there. Run `{zappa(f'manage {settings.STAGE}_manage ensure_site')}`.")
    elif site:
        report.add("site domain", OK, f"The Site record is {domain}.")
    url = f"{getattr(settings, 'SITE_URL', 'https://' + domain)}/"
    try:
        with operator_http.client(timeout=conf.http_timeout(), follow_redirects=False) as http:
            answer = http.get(url)
    except httpx.HTTPError as exc:
        report.add("site", PROBLEM, f"Cannot reach {url}: {type(exc).__name__} (DNS, certificate or custom domain mapping).")
        return
    if answer.status_code != 200:
        where = f" to {answer.headers.get('location')}" if answer.is_redirect else ""
        report.add("site", PROBLEM, f"{url} answered {answer.status_code}{where}, not 200.")
    else:
        report.add("site", OK, f"{url} answers 200.")
