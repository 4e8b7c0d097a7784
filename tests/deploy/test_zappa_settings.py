"""
The stage's Zappa settings, derived by infra.stages from zappa_settings.json (what every stage
shares, per kind), infra/stages/<stage>.toml and the stack's outputs, and read by Zappa's own
loader: every function resolves to the right handler, role, network, environment and sizes,
names no secret, packages only what runs in Lambda, and nothing in the committed files is
specific to an account.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
from pathlib import Path

import pytest

from . import zappa_stages
from .zappa_stages import BASE_DIR, KINDS, STAGES

ALL = [f"{stage}_{kind}" for stage in STAGES for kind in KINDS]


def test_the_committed_file_is_per_kind_and_names_no_account_or_stage():
    root = zappa_stages.raw()
    assert sorted(root) == sorted(KINDS)
    text = zappa_stages.ROOT_SETTINGS.read_text()
    assert not re.search(r"\d{12}", text), "an account id"
    assert "arn:" not in text and "amazonaws.com" not in text and "example.com" not in text
    for stage in STAGES:
        assert f"{stage}_" not in text


def test_each_rendered_file_has_exactly_one_stages_four_functions():
    # `zappa deploy --all -s <file>` deploys every key: exactly this stage's functions.
    for stage in STAGES:
        assert sorted(zappa_stages.rendered(stage)) == sorted(f"{stage}_{kind}" for kind in KINDS)


@pytest.mark.parametrize("stage_name", ALL)
def test_zappa_loads_every_stage(stage_name):
    from infra.stages import config

    cli = zappa_stages.load(stage_name)
    stage, kind = stage_name.split("_")
    outputs = zappa_stages.outputs(stage)
    sizes = config.load(stage).sizes
    assert cli.lambda_name == f"meetups-{stage}-{kind}"
    assert cli.runtime == "python3.11"
    assert cli.aws_region == config.load(stage).region
    assert cli.manage_roles is False
    # Everything AWS assigned comes from the stack's outputs, never typed by hand.
    assert cli.desired_role_arn == outputs[f"{kind.capitalize()}RoleArn"]
    assert cli.vpc_config == {"SubnetIds": ["subnet-aaaa", "subnet-bbbb"], "SecurityGroupIds": ["sg-1234"]}
    assert cli.s3_bucket_name == f"meetups-{stage}-zappa-123456789012"
    assert cli.stage_config["keep_warm"] is False  # a keep-warm ping would reach plain handlers as an event
    # `zappa deploy` would GET / (its "touch") and fail the deploy on a 500, but the site and
    # webhook are deployed before their database exists (steps 5-6): doctor checks / instead.
    assert cli.stage_config.get("touch", True) is False
    # The stack defines the sender's event source once; Zappa must not manage (re-disable) it.
    assert "events" not in cli.stage_config
    # Regional API Gateway custom domains are the stack's; `zappa certify` is never needed.
    assert "domain" not in cli.stage_config and "certificate_arn" not in cli.stage_config
    env = cli.aws_environment_variables
    assert env["STAGE"] == stage
    assert env["SECRETS_NAME"] == outputs["SecretName"]
    assert env["BOT_TOKEN_SECRET_NAME"] == outputs["BotTokenSecretName"]
    assert env["SECRETS_BACKEND"] == "aws"
    assert env["OUTBOX_QUEUE_URL"] == outputs["OutboxQueueUrl"]
    assert env["OUTBOX_DLQ_URL"] == outputs["OutboxDeadLetterQueueUrl"]
    assert env["SENDER_MAX_CONCURRENCY"] == str(sizes.sender_max_concurrency)
    assert cli.environment_variables == {"STAGE": stage}
    settings_module = cli.get_zappa_settings_string()
    assert f"API_STAGE='{stage_name}'" in settings_module
    (variables,) = [line for line in settings_module.splitlines() if line.startswith("ENVIRONMENT_VARIABLES=")]
    assert f"'STAGE': '{stage}'" in variables
    assert not cli.use_websocket
    # Connections stay bounded as Lambda scales out: reserved concurrency per function
    # (the sender's bound is its event source's MaximumConcurrency, in the stack).
    expected = {"site": sizes.site_concurrency, "webhook": sizes.webhook_concurrency, "sender": None, "manage": 1}[kind]
    assert cli.lambda_concurrency == expected


def test_the_site_and_manage_run_django():
    for stage in STAGES:
        for kind in ("site", "manage"):
            cli = zappa_stages.load(f"{stage}_{kind}")
            assert cli.django_settings == "project.settings"
            assert "DJANGO_SETTINGS='project.settings'" in cli.get_zappa_settings_string()
        assert zappa_stages.load(f"{stage}_site").lambda_handler == "handler.lambda_handler"  # Zappa's WSGI handler
        # Zappa's handler behind one that creates the database without Django (handlers/manage.py).
        assert zappa_stages.load(f"{stage}_manage").lambda_handler == "handlers.manage.handler"
        site = zappa_stages.load(f"{stage}_site")
        assert site.use_apigateway and site.timeout_seconds <= 29  # API Gateway cuts at 29 s
        assert site.prebuild_script == "infra.aws.build.collect_static"
        manage = zappa_stages.load(f"{stage}_manage")
        assert manage.use_apigateway is False  # invoked by the operator only
        # Only manage may find the database's admin secret (create_database).
        assert manage.aws_environment_variables["DATABASE_ADMIN_SECRET"].startswith("arn:aws:secretsmanager:")
        assert "DATABASE_ADMIN_SECRET" not in site.aws_environment_variables


def test_the_webhook_stages_run_the_webhook_handler_behind_api_gateway():
    from infra.stages import config

    for stage in STAGES:
        cli = zappa_stages.load(f"{stage}_webhook")
        assert cli.lambda_handler == "handlers.webhook.handler"
        assert cli.django_settings is None
        assert cli.use_apigateway
        webhook_url = cli.aws_environment_variables["TELEGRAM_WEBHOOK_URL"]
        assert webhook_url == f"https://{config.load(stage).webhook_domain}/telegram/webhook"


def test_the_sender_stages_have_no_api_gateway_and_no_zappa_event_source():
    for stage in STAGES:
        cli = zappa_stages.load(f"{stage}_sender")
        assert cli.lambda_handler == "handlers.sender.handler"
        assert cli.use_apigateway is False
        assert "events" not in cli.stage_config
        # The queue's visibility timeout (stack default 360 s) is at least 6x this.
        assert cli.timeout_seconds >= 60 and cli.timeout_seconds * 6 <= 360


def test_every_function_of_a_stage_shares_its_environment():
    dev, prod = zappa_stages.environment("dev"), zappa_stages.environment("prod")
    assert set(dev) == set(prod)
    for kind in ("webhook", "sender"):
        for stage, env in (("dev", dev), ("prod", prod)):
            assert zappa_stages.load(f"{stage}_{kind}").aws_environment_variables == env
    differing = {key for key in dev if dev[key] != prod[key]}
    assert {"STAGE", "SITE_DOMAIN", "SECRETS_NAME", "BOT_TOKEN_SECRET_NAME", "OUTBOX_QUEUE_URL", "OUTBOX_DLQ_URL",
            "TELEGRAM_BOT_ID"} <= differing


def test_no_secret_value_and_no_reserved_variable_in_the_settings():
    for text in [zappa_stages.ROOT_SETTINGS.read_text()] + [zappa_stages.settings_file(s).read_text() for s in STAGES]:
        assert not re.search(r"\d{5,}:[A-Za-z0-9_-]{30,}", text), "a bot token"
        assert "postgres://" not in text and "postgresql://" not in text, "a database URL (with its password)"
    for stage in STAGES:
        for kind in KINDS:
            env = zappa_stages.load(f"{stage}_{kind}").aws_environment_variables
            for name in env:
                # SECRETS_NAME, BOT_TOKEN_SECRET_NAME, DATABASE_ADMIN_SECRET: where a secret is, not what it is.
                if not name.endswith(("SECRETS_NAME", "SECRET_NAME", "ADMIN_SECRET")):
                    assert not re.search(r"TOKEN|PASSWORD|SECRET_KEY|CLIENT_SECRET|WEBHOOK_SECRET", name), name
                assert "://" not in env[name] or env[name].startswith("https://"), name
                assert name not in ("DATABASE_URL", "DJANGO_SECRET_KEY")
                # Lambda sets these itself and refuses them in a function's configuration.
                assert name not in ("AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_LAMBDA_FUNCTION_NAME")


def _packaged_project_files(stage_name: str) -> set[str]:
    """The project files Zappa would put in the package, with Zappa's own exclude logic."""
    from zappa.core import ZIP_EXCLUDES

    cli = zappa_stages.load(stage_name)
    # Zappa itself only leaves out the *active* virtualenv (by its directory name), which
    # is not .venv when packaging from a clean one: the exclude list must name .venv.
    ignore = shutil.ignore_patterns(*ZIP_EXCLUDES, *cli.stage_config["exclude"])
    files: set[str] = set()

    def walk(directory: Path):
        names = sorted(p.name for p in directory.iterdir())
        ignored = ignore(str(directory), names)
        for name in names:
            if name in ignored:
                continue
            path = directory / name
            if path.is_dir():
                walk(path)
            else:
                files.add(str(path.relative_to(BASE_DIR)))

    walk(BASE_DIR)
    for pattern in cli.stage_config.get("exclude_glob", []):
        files = {f for f in files if not (fnmatch.fnmatch(f, pattern) or f.startswith(pattern.rstrip("/") + "/"))}
    return files


@pytest.mark.parametrize("stage_name", ["dev_site", "prod_webhook", "dev_sender"])
def test_packages_leave_out_tests_tools_and_docs(stage_name):
    files = _packaged_project_files(stage_name)
    assert "handlers/webhook.py" in files
    assert "project/settings.py" in files
    assert any(f.startswith("templates/") for f in files)
    for prefix in ("tests/", "bench/", "docs/", "infra/local/", ".venv/", ".git/", "var/", ".ci/"):
        assert not any(f.startswith(prefix) for f in files), prefix
    for name in ("zappa_settings.json", "requirements-dev.txt", "requirements.txt", "Makefile", "README.md"):
        assert name not in files
    assert not any(f.startswith(("infra/local/", ".venv/")) or f.endswith(".yaml") for f in files)
    if not stage_name.endswith("_site"):
        assert not any(f.startswith(("staticfiles/", "static/")) for f in files)


def test_the_site_package_carries_the_collected_static_files():
    cli = zappa_stages.load("dev_site")
    ignore = shutil.ignore_patterns(*cli.stage_config["exclude"])
    assert not ignore(str(BASE_DIR), ["staticfiles", "static", "templates"])
    assert not any(g.startswith("staticfiles") for g in cli.stage_config["exclude_glob"])
    # ... collected before each package by the prebuild script, with the deployed storage.
    from infra.aws import static_settings

    assert static_settings.STORAGES["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_site_packages_keep_the_runtime_and_drop_the_tools():
    """The exclude list applied to the site-packages of this (development) venv."""
    import site

    from zappa.core import ZIP_EXCLUDES

    cli = zappa_stages.load("dev_site")
    packages_dir = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    names = [p.name for p in packages_dir.iterdir()]
    ignored = shutil.ignore_patterns(*ZIP_EXCLUDES, *cli.stage_config["exclude"])(str(packages_dir), names)
    for runtime in ("django", "allauth", "telegram", "whitenoise", "psycopg", "dj_database_url", "django_ses",
                    "httpx", "jwt", "requests", "zappa", "werkzeug"):
        assert runtime in names and runtime not in ignored, runtime
    for tool in ("pytest", "_pytest", "moto", "hypothesis", "cfnlint", "playwright", "boto3", "botocore",
                 "pip", "setuptools", "troposphere"):
        if tool in names:
            assert tool in ignored, tool


def test_the_globs_drop_other_languages_but_keep_english_and_the_locale_package():
    """exclude_glob runs on the merged package (project + site-packages); this venv stands in."""
    import site

    packages_dir = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    for stage_name in ("dev_site", "dev_sender"):
        globs = zappa_stages.load(stage_name).stage_config["exclude_glob"]
        # "**" patterns globbed from the two packages with locales (the whole venv is slow).
        roots = {pattern: [packages_dir / "django", packages_dir / "allauth"] if pattern.startswith("**") else [packages_dir]
                 for pattern in globs}
        dropped = {path for pattern in globs for root in roots[pattern] for path in root.glob(pattern)}

        def gone(relative: str) -> bool:
            path = packages_dir / relative
            return any(path == d or d in path.parents for d in dropped)

        assert not gone("django/conf/locale/__init__.py")  # LANG_INFO
        assert not gone("django/conf/locale/en/formats.py")
        assert not gone("django/conf/locale/en/LC_MESSAGES/django.mo")  # the default language's catalog
        assert gone("django/conf/locale/de/LC_MESSAGES/django.mo")
        assert gone("django/conf/locale/es/LC_MESSAGES/django.mo")
        assert gone("django/conf/locale/en_GB/LC_MESSAGES/django.mo")
        assert gone("allauth/locale/fr/LC_MESSAGES/django.mo")
        assert gone("django/contrib/gis/__init__.py")
        assert not gone("django/contrib/sites/__init__.py")
    cli = zappa_stages.load("dev_site")
    assert "__pycache__" in cli.stage_config["exclude"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_carries_only_the_libraries_it_runs(stage):
    from zappa.core import ZIP_EXCLUDES

    def dropped(kind: str, names: list[str]) -> set[str]:
        cli = zappa_stages.load(f"{stage}_{kind}")
        return set(shutil.ignore_patterns(*ZIP_EXCLUDES, *cli.stage_config["exclude"])("site-packages", names))

    names = ["django", "allauth", "telegram", "psycopg", "cryptography", "jwt", "zappa", "werkzeug", "cffi",
             "_cffi_backend.cpython-311-x86_64-linux-gnu.so", "click", "boto3"]
    # The site: Django through Zappa's WSGI handler (zappa, werkzeug), OIDC sign-in (jwt, cryptography);
    # python-telegram-bot only runs in the sender (and the operator's commands, on a laptop).
    assert dropped("site", names) == {"click", "boto3"}
    assert "telegram" in zappa_stages.load(f"{stage}_site").stage_config["exclude_glob"]  # top level only
    assert "telegram" not in zappa_stages.load(f"{stage}_sender").stage_config["exclude_glob"]
    # Webhook and sender: plain handlers, no sign-in.
    for kind in ("webhook", "sender"):
        assert dropped(kind, names) == {"click", "boto3", "zappa", "werkzeug", "cryptography", "cffi",
                                        "_cffi_backend.cpython-311-x86_64-linux-gnu.so"}


def test_a_stage_file_only_for_a_stage_the_settings_deploy(tmp_path, settings):
    """docs/DEPLOY.md, "The stage's configuration": a copy of dev.toml under another name would
    render settings whose functions refuse to start (project/settings.py knows no such STAGE),
    so infra.stages refuses it at once, saying where the name must be added."""
    from infra.stages import config

    assert set(config.DEPLOYED_STAGES) == set(settings.STAGES) - {"local", "test"}
    copy = tmp_path / "staging.toml"
    copy.write_text(config.path_of("dev").read_text())
    with pytest.raises(config.StageConfigError, match="deploys only dev and prod, not 'staging'.*STAGES"):
        config.load("staging", copy)
    assert config.load("dev").stage == "dev"
