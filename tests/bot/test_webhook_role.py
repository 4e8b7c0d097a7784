"""
The webhook function's own Django (issue 14, cold start): FUNCTION_ROLE=webhook installs only
the apps its code uses (settings.WEBHOOK_APPS) and reverses URLs through its own URLconf
(project/core/webhook_urls.py), so a cold start imports neither the admin nor allauth's social
accounts, and Telegram texts render without the site's template engine.

What that app list can do is checked where it runs: tests/bot/webhook_role_worker.py handles
every kind of update in a process of its own with FUNCTION_ROLE=webhook (the test process has
the site's apps), against a database the site migrated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Answered in the webhook's own response; none writes an outbox row.
NO_ROW = {
    "help": "sendMessage",
    "settings": "sendMessage",
    "unknown_command": "sendMessage",
    "support_text": "sendMessage",
    "press_not_connected": "answerCallbackQuery",
    "block": None,
    "unblock": None,
}


def _env(database: Path, role: str | None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FUNCTION_ROLE", "DATABASE_URL", "OUTBOX_QUEUE_URL", "AWS_ENDPOINT_URL")}
    env.update({"STAGE": "test", "DJANGO_SETTINGS_MODULE": "project.settings", "PYTHONPATH": str(ROOT),
                "DATABASE_URL": f"sqlite:///{database}"})
    if role:
        env["FUNCTION_ROLE"] = role
    return env


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    database = tmp_path_factory.mktemp("webhook_role") / "db.sqlite3"
    # The site migrates (as the release does); the webhook only uses the tables.
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT,
                             env=_env(database, None), capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    worker = subprocess.run([sys.executable, "-m", "tests.bot.webhook_role_worker"], cwd=ROOT,
                            env=_env(database, "webhook"), capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stderr[-3000:]
    return json.loads(worker.stdout.strip().splitlines()[-1])


def test_the_webhook_installs_only_the_apps_its_code_uses(run):
    apps = set(run["cold"]["apps"])
    for needed in ("django.contrib.auth", "django.contrib.contenttypes", "allauth.account", "project.bot",
                   "project.notifications", "project.telegram_accounts", "project.meetups", "project.accounts"):
        assert needed in apps
    for sites_only in ("django.contrib.admin", "django.contrib.sessions", "django.contrib.messages",
                       "django.contrib.staticfiles", "django.contrib.humanize", "allauth.socialaccount",
                       "project.ops"):
        assert sites_only not in apps
    assert run["cold"]["root_urlconf"] == "project.core.webhook_urls"


def test_a_cold_help_loads_no_urlconf_admin_social_accounts_or_tag_libraries(run):
    assert run["updates"]["help"]["outcome"] == "handled"
    loaded = {name for name, present in run["cold"]["modules"].items() if present}
    assert loaded == set(), loaded
    # Django's set-up ran with the collector off, and its objects were frozen out of it.
    assert run["cold"]["frozen"] > 10_000 and run["cold"]["gc_enabled"]


@pytest.mark.parametrize("kind", sorted(NO_ROW))
def test_updates_that_need_no_outbox_row_are_answered_under_the_webhook_apps(run, kind):
    result = run["updates"][kind]
    assert (result["status"], result["outcome"], result["answer"], result["rows"]) == (200, "handled", NO_ROW[kind], 0)


def test_an_ignored_update_is_stored_as_ignored(run):
    assert run["updates"]["ignored"] == {"status": 200, "outcome": "ignored", "answer": None, "answer_text": "", "rows": 0}
    assert run["no_row_modules"]["project.core.webhook_urls"] is False


@pytest.mark.parametrize("kind", ["accept", "start_with_token", "link", "stop"])
def test_updates_that_write_to_the_outbox_work_under_the_webhook_apps(run, kind):
    """These link to the site (reverse()): the webhook's URLconf serves them, without the admin."""
    result = run["updates"][kind]
    assert result["status"] == 200 and result["outcome"] == "handled", result
    assert result["rows"] >= 1


def test_links_made_by_the_webhook_come_from_its_own_urlconf(run):
    assert run["updates"]["accept"]["answer_text"] == "Accepted."
    assert run["linked_to_alice"]
    after = run["after"]
    assert after["project.core.webhook_urls"] and not after["project.urls"]
    assert not after["django.contrib.admin"] and not after["allauth.socialaccount.models"]
    assert not after["telegram"] and not after["boto3"]


# --- the webhook's URLconf against the site's (in this process, which has every app) ----------


def _named_routes(urlconf: str) -> dict[str, tuple[list[str], str]]:
    """{qualified name: ([routes in order], the view's module)} of every named URL."""
    from django.urls import URLResolver, get_resolver

    routes: dict[str, tuple[list[str], str]] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif pattern.name:
                name = namespace + pattern.name
                found, _ = routes.setdefault(name, ([], pattern.lookup_str.rsplit(".", 1)[0]))
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver(urlconf).url_patterns, "", "")
    return routes


def test_every_url_the_webhook_can_reverse_is_the_sites_own():
    site, webhook = _named_routes("project.urls"), _named_routes("project.core.webhook_urls")
    assert webhook, "the webhook's URLconf names nothing"
    for name, (routes, _) in webhook.items():
        assert name in site and site[name][0] == routes, name


def test_the_webhook_urlconf_leaves_out_only_the_admin_and_telegram_sign_in():
    """A URL added to the site's URLconf must be added to the webhook's too (or belong here)."""
    site, webhook = _named_routes("project.urls"), _named_routes("project.core.webhook_urls")
    site_only = {name: module for name, (_, module) in site.items() if name not in webhook}
    assert any(name.startswith("admin:") for name in site_only)
    sign_in = ("allauth.socialaccount", "project.telegram_accounts")
    unexpected = {name: module for name, module in site_only.items()
                  if not (name.startswith("admin:") or module.startswith(sign_in) or name == "dev_mail")}
    assert unexpected == {}


# --- Telegram texts: their own template engine -------------------------------------------------


@pytest.mark.parametrize("template", sorted(p.name for p in (ROOT / "templates" / "bot" / "telegram").glob("*.html")))
@pytest.mark.parametrize("connected", [True, False])
def test_telegram_texts_render_as_the_sites_engine_renders_them(template, connected, settings):
    """project/core/text_templates.py renders what render_to_string renders (autoescaped HTML)."""
    from django.template.loader import render_to_string

    from project.bot import replies

    context = {
        "connected": connected, "already_connected": connected, "commands": [("help", "What <this> bot does")],
        "account_url": "https://example.com/accounts/?a=1&b=2", "settings_url": "https://example.com/settings/",
        "name": "Ada <b>&", "command": "/x<y>", "problem": "expired & <gone>", "turned_off": ["Match requests"],
        "email": "a…@example.com", "text": "<i>hi</i> & bye", "person": "Bea", "result": "Accepted.",
    }
    name = template.removesuffix(".html")
    site = render_to_string(f"bot/telegram/{template}", {"site_name": "Meetups & Co", "site_url": "https://example.com",
                                                         **context}).strip()
    settings.SITE_NAME, settings.SITE_URL = "Meetups & Co", "https://example.com"
    assert replies.render(name, context) == site
