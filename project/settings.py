"""
Settings for every stage, read from the environment (twelve-factor).

STAGE is one of:
  local  a developer's machine (`make dev`): DEBUG, SQLite, console mail, the Telegram sandbox
  test   the test suite (tests/settings.py sets it)
  dev    the deployed development stage (its own bot, domain, queue, secret, database)
  prod   the deployed production stage

Deployed stages refuse to start when a required value is missing and say which one.
Secrets never live here: see project/core/secrets.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

STAGES = ("local", "test", "dev", "prod")
STAGE = os.environ.get("STAGE", "local")
if STAGE not in STAGES:
    raise ImproperlyConfigured(f"STAGE must be one of {', '.join(STAGES)}, not {STAGE!r}.")
DEPLOYED = STAGE in ("dev", "prod")


def env(name: str, default: str | None = None, *, required_when_deployed: bool = False) -> str:
    """A value from the environment; a deployed stage without a required one stops here."""
    value = os.environ.get(name, "")
    if value:
        return value
    if required_when_deployed and DEPLOYED:
        raise ImproperlyConfigured(
            f"STAGE={STAGE} needs the environment variable {name}; it is missing or empty."
        )
    return default if default is not None else ""


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# --- AWS ------------------------------------------------------------------------------------

AWS_REGION = env("AWS_REGION", "eu-central-1")
OUTBOX_QUEUE_URL = env("OUTBOX_QUEUE_URL", required_when_deployed=True)
OUTBOX_DLQ_URL = env("OUTBOX_DLQ_URL")
SECRETS_BACKEND = env("SECRETS_BACKEND", "aws" if DEPLOYED else "env")
SECRETS_NAME = env("SECRETS_NAME", f"site/{STAGE}", required_when_deployed=True)
# The bot token lives in a secret of its own, which the webhook function may not read.
BOT_TOKEN_SECRET_NAME = env("BOT_TOKEN_SECRET_NAME", f"{SECRETS_NAME}/bot-token")
# Upper bound of concurrent sender instances (the SQS event source's MaximumConcurrency).
SENDER_MAX_CONCURRENCY = int(env("SENDER_MAX_CONCURRENCY", "2"))

# --- Stage, host and security -------------------------------------------------------------

DEBUG = STAGE == "local" and env_bool("DJANGO_DEBUG", True)

# The public host of the site. Deployed stages serve it from a custom domain (the API Gateway
# default host would put the stage name in every path and fail Telegram's domain check).
SITE_DOMAIN = env("SITE_DOMAIN", "127.0.0.1:8000", required_when_deployed=True)
SITE_SCHEME = "https" if DEPLOYED else env("SITE_SCHEME", "http")
SITE_NAME = env("SITE_NAME", "Meetups")
SITE_URL = f"{SITE_SCHEME}://{SITE_DOMAIN}"
SITE_ID = 1

_site_host = SITE_DOMAIN.split(":")[0]
ALLOWED_HOSTS = [_site_host, *env_list("EXTRA_ALLOWED_HOSTS")]
if not DEPLOYED:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost", "testserver"]
CSRF_TRUSTED_ORIGINS = [SITE_URL, *env_list("EXTRA_CSRF_TRUSTED_ORIGINS")]

_local_secret_key = "django-insecure-local-only-key-never-used-when-deployed"
SECRET_KEY = env("DJANGO_SECRET_KEY", _local_secret_key if not DEPLOYED else "")
if DEPLOYED and not SECRET_KEY:
    # Kept in the stage secret rather than in Lambda's environment; read once per container.
    from project.core.secrets import get_secret

    SECRET_KEY = get_secret("django_secret_key")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            f"STAGE={STAGE} needs DJANGO_SECRET_KEY, or django_secret_key in the stage secret."
        )

if DEPLOYED:
    # API Gateway terminates TLS and forwards the original scheme.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = False  # API Gateway only speaks HTTPS already
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_CONTENT_TYPE_NOSNIFF = True
    USE_X_FORWARDED_HOST = False  # the custom domain is the Host header itself
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Our pages load nothing from elsewhere; the header keeps it that way.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
    "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'self'"
)

# --- Applications ---------------------------------------------------------------------------

INSTALLED_APPS = [
    # The admin without autodiscovery at start-up: project/urls.py runs it, so only the site
    # (which serves the admin) imports every app's admin module, not the webhook and sender.
    # The admin's sign-in is the site's own (email or Telegram, no password): see
    # project/accounts/admin_site.py.
    "project.accounts.admin_config.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "project.core",
    "project.accounts",
    "project.telegram_accounts",
    "project.notifications",
    "project.meetups",
    "project.bot",
    "project.ops",
]

# Which Lambda function this process is: `site` (Django through WSGI), `webhook` or `sender`.
# handlers/webhook.py and handlers/sender.py say so themselves before setting Django up.
FUNCTION_ROLES = ("site", "webhook", "sender")
FUNCTION_ROLE = env("FUNCTION_ROLE", "site")
if FUNCTION_ROLE not in FUNCTION_ROLES:
    raise ImproperlyConfigured(f"FUNCTION_ROLE must be one of {', '.join(FUNCTION_ROLES)}, not {FUNCTION_ROLE!r}.")
if FUNCTION_ROLE == "site":
    # Only the site signs people in. allauth loads every installed provider at start-up, and
    # the OpenID Connect one imports requests: leaving them out of the webhook and sender
    # functions takes about a third off their cold start (docs/BENCHMARKS.md). Their data
    # (SocialAccount rows) stays reachable there through allauth.socialaccount itself.
    INSTALLED_APPS += [
        "allauth.socialaccount.providers.telegram",
        "allauth.socialaccount.providers.openid_connect",
    ]

# The webhook function installs only the apps its code uses: the bot, accounts and their
# Telegram links, notifications and the outbox, meetups (its buttons), allauth's EmailAddress
# (where a notification goes) and what those need. The admin, sessions, messages, static
# files, humanize, allauth's social accounts and ops serve the site; each would add its
# imports to every cold start of the webhook (docs/BENCHMARKS.md). The webhook never deletes
# a user (whose cascade would need them), and reverses URLs through its own URLconf, which
# leaves out the admin and the Telegram sign-in views (tests/bot/test_webhook_role.py).
WEBHOOK_APPS = (
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "project.core",
    "project.accounts",
    "project.telegram_accounts",
    "project.notifications",
    "project.meetups",
    "project.bot",
)
if FUNCTION_ROLE == "webhook":
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app in WEBHOOK_APPS]

# The address API Gateway saw (requestContext.identity.sourceIp): ClientAddressMiddleware reads
# it from the event Zappa's handler puts in the environ, or (an environ made without the
# handler) from this header, which the site stage's context_header_mappings fills, and makes
# it REMOTE_ADDR for allauth's per-IP limits, our own and the logs. Never trust
# X-Forwarded-For: behind the regional API Gateway its first entries are the caller's to
# choose, so ALLAUTH_TRUSTED_PROXY_COUNT stays 0 (project/core/client_ip.py says why).
CLIENT_IP_HEADER = "Sourceip"

MIDDLEWARE = [
    # First: request_id on every log line of the request, SiteServerErrors for any 5xx.
    "project.core.observability.middleware.RequestSignalsMiddleware",
    # Before anything reads REMOTE_ADDR: the client's address as API Gateway saw it.
    "project.core.client_ip.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "project.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Cookies set inside Telegram Web's cross-site frame: SameSite=None; Secure; Partitioned
    # (above the session, CSRF and messages middleware, to see the cookies they set).
    "project.telegram_accounts.middleware.TelegramWebCookiesMiddleware",
    # The known-browser cookie on every sign-in (below the line above, which partitions it in frames).
    "project.telegram_accounts.middleware.KnownBrowserMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Pages shown inside Telegram (Mini App): framable by Telegram Web, in its colours.
    "project.telegram_accounts.middleware.InTelegramMiddleware",
]

ROOT_URLCONF = "project.urls"
if FUNCTION_ROLE == "webhook":
    ROOT_URLCONF = "project.core.webhook_urls"  # the site's URLs but the admin and Telegram sign-in
WSGI_APPLICATION = "project.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "project.core.context_processors.site",
                "project.core.context_processors.notices",
            ],
        },
    },
]

# --- Database, cache, sessions ------------------------------------------------------------

_default_db = f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
_database_url = env("DATABASE_URL", "" if DEPLOYED else _default_db)
if DEPLOYED and not _database_url:
    # The URL carries the database password: deployed stages keep it in the stage secret.
    from project.core.secrets import get_secret

    _database_url = get_secret("database_url", required=False)
    if not _database_url:
        raise ImproperlyConfigured(f"STAGE={STAGE} needs DATABASE_URL, or database_url in the stage secret.")
DATABASES = {
    "default": dj_database_url.parse(
        _database_url,
        # Lambda containers are reused: keep the connection between invocations, and check
        # it before use, since RDS may have closed it while the container was frozen.
        conn_max_age=int(env("DB_CONN_MAX_AGE", "60" if DEPLOYED else "0")),
        conn_health_checks=True,
    )
}
# database_url says sslmode=verify-full&sslrootcert=project/core/certs/rds-ca-bundle.pem: a
# path inside the package, resolved here since a function's working directory is not ours.
_sslrootcert = DATABASES["default"].get("OPTIONS", {}).get("sslrootcert")
if _sslrootcert and not Path(_sslrootcert).is_absolute():
    DATABASES["default"]["OPTIONS"]["sslrootcert"] = str(BASE_DIR / _sslrootcert)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Locally the site, the webhook gateway and the sender poller write to one file at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

# Sessions and allauth's rate limits must hold across every Lambda container, so deployed
# stages keep both in the database (or in Redis when REDIS_URL is set), never in memory.
# The cache also must not let a flood evict live rate limits or used sign-in hashes:
# project.core.cache.DatabaseCache never culls a live entry (past MAX_ENTRIES it only drops
# expired ones), and its table is made by `migrate` (contract C7). A Redis must run with
# `maxmemory-policy noeviction` for the same reason.
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
elif DEPLOYED or STAGE == "local":
    # Local runs several processes too (site, webhook gateway, sender poller).
    CACHES = {
        "default": {
            "BACKEND": "project.core.cache.DatabaseCache",
            "LOCATION": "django_cache",  # project.core.cache.TABLE, made by migrate
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Static files ---------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"  # filled by collectstatic before packaging
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if DEPLOYED
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Email ----------------------------------------------------------------------------------

EMAIL_DELIVERY = env("EMAIL_DELIVERY", "console" if not DEPLOYED else "ses")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", f"{SITE_NAME} <no-reply@{_site_host}>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
LOCAL_MAIL_DIR = BASE_DIR / "var" / "mail"
if STAGE == "test":
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
elif EMAIL_DELIVERY == "console":
    # Prints each email to the terminal and keeps a copy for the local /dev/mail/ page.
    EMAIL_BACKEND = "project.core.mail.LocalMailBackend"
elif EMAIL_DELIVERY == "ses":
    # django-ses with the project's client timeouts and AWS_ENDPOINT_URL (project/core/aws_mail.py).
    EMAIL_BACKEND = "project.core.aws_mail.SESBackend"
    AWS_SES_REGION_NAME = env("AWS_SES_REGION", env("AWS_REGION", "eu-central-1"))
    AWS_SES_REGION_ENDPOINT = f"email.{AWS_SES_REGION_NAME}.amazonaws.com"
    # No GetSendQuota before each send (django-ses's default throttle): no role may call it,
    # and SES's own sending rate limit answers a burst with a retryable error anyway.
    AWS_SES_AUTO_THROTTLE = None
elif EMAIL_DELIVERY == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("EMAIL_HOST", required_when_deployed=True)
    EMAIL_PORT = int(env("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    raise ImproperlyConfigured(f"EMAIL_DELIVERY must be console, ses or smtp, not {EMAIL_DELIVERY!r}.")

# --- Telegram -------------------------------------------------------------------------------

# Local and test stages talk to the sandbox's bot; its token is not a secret.
LOCAL_BOT_TOKEN = "7000000001:AAH-local-sandbox-token-not-a-secret-0001"
TELEGRAM_BOT_ID = int(env("TELEGRAM_BOT_ID", LOCAL_BOT_TOKEN.split(":")[0], required_when_deployed=True))
TELEGRAM_BOT_USERNAME = env("TELEGRAM_BOT_USERNAME", "site_local_bot", required_when_deployed=True)
TELEGRAM_API_BASE_URL = env(
    "TELEGRAM_API_BASE_URL", "https://api.telegram.org" if DEPLOYED else "http://127.0.0.1:8081"
).rstrip("/")
TELEGRAM_OAUTH_BASE_URL = env(
    "TELEGRAM_OAUTH_BASE_URL", "https://oauth.telegram.org" if DEPLOYED else "http://127.0.0.1:8081"
).rstrip("/")
# Where bot deep links (t.me/<bot>?start=...) point (contract C6): Telegram when deployed; locally
# the sandbox, whose /<bot>?start= page stands in for t.me (infra/local/telegram_sandbox/deep_link.py).
TELEGRAM_DEEP_LINK_BASE = env(
    "TELEGRAM_DEEP_LINK_BASE", "https://t.me" if DEPLOYED else TELEGRAM_API_BASE_URL
).rstrip("/")
TELEGRAM_LOGIN_FLOWS = env_list("TELEGRAM_LOGIN_FLOWS", "legacy,oidc")
TELEGRAM_WEBHOOK_URL = env("TELEGRAM_WEBHOOK_URL", "http://127.0.0.1:8001/telegram/webhook")
TELEGRAM_STAFF_GROUP_ID = int(env("TELEGRAM_STAFF_GROUP_ID", "0")) or None
# Bot API calls that need no result ride in the webhook's response (contract C2); off sends
# them through the outbox like everything else (a switch for comparing, or for trouble).
TELEGRAM_WEBHOOK_ANSWERS = env_bool("TELEGRAM_WEBHOOK_ANSWERS", True)
# Ed25519 public key (hex) that signs Mini App launch data: Telegram's when deployed, the
# sandbox's locally (derived from its published seed: infra/local/telegram_sandbox/mini_app_keys.py).
TELEGRAM_MINI_APP_PUBLIC_KEY = env(
    "TELEGRAM_MINI_APP_PUBLIC_KEY",
    "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d" if DEPLOYED
    else "7517ab7ff523f5a0b9fa2aafe6b51b8bdc81e658a2bbe821719c6af838128462",
)
# With SECRETS_BACKEND=env these come from the environment (see project/core/secrets.py).
LOCAL_SECRETS = {
    "telegram_bot_token": LOCAL_BOT_TOKEN,
    "telegram_webhook_secret": "local-webhook-secret-not-a-secret",
    "telegram_oidc_client_secret": "local-oidc-client-secret-not-a-secret",
    "django_secret_key": _local_secret_key,
}

# --- django-allauth -------------------------------------------------------------------------

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = 3
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 15 * 60  # the sign-in email's code and link alike
# e.g. "BCDF-GHJK": letters without vowels or look-alikes. Not 6 digits: a stranger can ask
# for codes to someone's address and guess (3 tries a code, 3 codes a minute); 20^8 makes that hopeless.
ACCOUNT_LOGIN_BY_CODE_FORMAT = {"length": 8, "dashed": True}
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND = True
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_FORMAT = ACCOUNT_LOGIN_BY_CODE_FORMAT
ACCOUNT_CHANGE_EMAIL = True  # one address per account; a new one replaces it once confirmed
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""  # subjects name the site themselves
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_RATE_LIMITS = {
    "request_login_code": "20/m/ip,3/m/key",
    "login_failed": "10/m/ip,5/5m/key",
    "change_email": "1/m/user",
    "manage_email": "10/m/user",
    "confirm_email": "1/3m/key",
}
ACCOUNT_ADAPTER = "project.accounts.adapter.AccountAdapter"
# "Successfully signed in as Ada", not as the username allauth generated (contract C4).
ACCOUNT_USER_DISPLAY = "project.accounts.models.user_display"
SOCIALACCOUNT_ADAPTER = "project.telegram_accounts.adapter.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "home"

# Nobody has a password: people sign in by email (code or link) or Telegram, which log in
# without `authenticate()`. ModelBackend stays for sessions and permissions; it accepts no
# password because User.check_password() never does (project/accounts/models.py), and
# allauth's password backend is gone.
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

# --- Logging and metrics (project/core/observability) ---------------------------------------

LOG_LEVEL = env("LOG_LEVEL", "INFO")
# "json": one JSON object per line with the request, update or delivery id (what CloudWatch
# Logs Insights queries); "text": readable lines for a terminal (make dev, tests).
LOG_FORMAT = env("LOG_FORMAT", "json" if DEPLOYED else "text")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
# Metrics as CloudWatch embedded-metric-format lines on stdout (no API call). Off for make dev,
# whose terminal is not CloudWatch; on in tests, which read them.
METRICS_ENABLED = env_bool("METRICS_ENABLED", STAGE != "local")
# The alarms in infra/aws/stack.yaml look in the namespace named by the stack's ProjectName.
METRICS_NAMESPACE = env("METRICS_NAMESPACE", "meetups")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "project.core.logging.RedactSecretsFilter"}},
    "formatters": {
        # Only the one in use: dictConfig builds every formatter listed, and the JSON one
        # imports Powertools.
        "console": {"()": "project.core.observability.jsonlog.JsonLinesFormatter"}
        if LOG_FORMAT == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # httpx logs every request URL at INFO, and a Bot API URL carries the token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "telegram": {"level": "INFO"},
    },
}
