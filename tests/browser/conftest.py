"""
The browser tests' harness: Debian's Chromium driven by Playwright, against the site running
in-process on a free port, the Telegram sandbox, and (for flows that go through the queue)
the whole local stack: moto's SQS queue, the sender fed by the local SQS poller, and the
webhook gateway the sandbox delivers updates to.

Chromium comes from the `chromium` Debian package (Playwright's own browser download does
not work on these machines). Where it is absent every browser test skips and says how to get
it; `.ci/run` installs it, so CI never skips them.

Fixtures:
  browser        one headless Chromium for the whole session
  site           the site on http://127.0.0.1:<port>, settings pointed at it, a fresh database
  page           a fresh browser context (no cookies) and page at desktop width; site pages
                 that violate the Content Security Policy fail the test
  new_page()     another fresh context + page (a second person in the same test)
  make_user()    a site account; log_in(page, user) gives a page that person's session
  stack          site + sandbox + SQS queue + sender poller + webhook gateway, running
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Debian's `chromium` package; CHROMIUM_PATH points elsewhere if needed.
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 375, "height": 740}
# Long enough for a noisy shared machine, short enough that a broken flow fails fast.
TIMEOUT_MS = 10_000
FAILURE_DIR = Path(__file__).resolve().parents[2] / "var" / "browser-failures"


# --- Chromium -----------------------------------------------------------------------------


# Assertions wait this long for the page to get there (Playwright's default is 5 s; the
# machines running the suite are shared and often busy).
expect.set_options(timeout=TIMEOUT_MS)


def chromium_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    return None


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for all browser tests (they run one after another)."""
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running on the test thread, which makes
    # Django refuse ORM calls there ("You cannot call this from an async context"). The test
    # thread really is synchronous, so the check is lifted while the browser runs, and only
    # then (package scope: restored before the rest of the suite).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# --- The site on a free port ----------------------------------------------------------------


class SharedConnectionLock:
    """
    Serialises database work when every thread shares one in-memory SQLite connection.

    The test database on SQLite lives in memory, so the site's request threads, the sender
    poller and the webhook gateway all use the test thread's one connection (as Django's
    LiveServerTestCase does). Two threads inside transaction.atomic() on one connection would
    corrupt its transaction state, so each unit of work takes this lock first. On PostgreSQL
    every thread has its own connection and the lock is a no-op.
    """

    def __init__(self):
        self._lock = threading.RLock()
        self.active = False

    def __enter__(self):
        if self.active:
            self._lock.acquire()
        return self

    def __exit__(self, *exc):
        if self.active:
            self._lock.release()

    def wrap(self, app):
        def locked_app(environ, start_response):
            with self:
                # Drain the response inside the lock: Django may touch the database while
                # the body is produced (streaming responses, session saves).
                return list(app(environ, start_response))

        return locked_app


db_lock = SharedConnectionLock()


def shared_connections() -> dict:
    from django.db import connections

    return {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }


@contextlib.contextmanager
def sharing_test_connections():
    """For a background thread: use the test thread's in-memory SQLite connection (if any)."""
    from django.db import connections

    for alias, conn in shared_connections().items():
        connections[alias] = conn
    yield


class SiteServer:
    def __init__(self):
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.test.testcases import LiveServerThread

        self.overrides = shared_connections()
        db_lock.active = bool(self.overrides)
        self.thread = LiveServerThread(
            "127.0.0.1",
            static_handler=lambda app: db_lock.wrap(StaticFilesHandler(app)),
            connections_override=self.overrides,
            port=0,
        )
        self.thread.daemon = True

    def start(self):
        for conn in self.overrides.values():
            conn.inc_thread_sharing()
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error

    def stop(self):
        self.thread.terminate()
        for conn in self.overrides.values():
            conn.dec_thread_sharing()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.thread.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@pytest.fixture(scope="session")
def site_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        server = SiteServer()
        server.start()
    yield server
    server.stop()


class Site:
    def __init__(self, server: SiteServer):
        self.server = server
        self.url = server.url
        self.host = server.host

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def site(site_server, transactional_db, settings):
    """The site at site.url, with every setting that names the public host pointing at it."""
    from django.contrib.sites.models import Site as SiteRow
    from django.core.cache import cache

    host = site_server.host
    settings.SITE_DOMAIN = host
    settings.SITE_SCHEME = "http"
    settings.SITE_URL = site_server.url
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    settings.CSRF_TRUSTED_ORIGINS = [site_server.url]
    # A transactional test empties every table afterwards, the sites row included.
    SiteRow.objects.update_or_create(id=settings.SITE_ID, defaults={"domain": host, "name": settings.SITE_NAME})
    SiteRow.objects.clear_cache()
    # allauth's rate limits count in the cache; each test starts with none used.
    cache.clear()
    yield Site(site_server)
    SiteRow.objects.clear_cache()


# --- Pages ----------------------------------------------------------------------------------


class PageWatcher:
    """Remembers what a page's console said about the Content Security Policy on the site."""

    def __init__(self, site_url: str):
        self.site_url = site_url
        self.csp_violations: list[str] = []

    def attach(self, page):
        def on_console(message):
            if message.type == "error" and "Content Security Policy" in message.text:
                if page.url.startswith(self.site_url):
                    self.csp_violations.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        return page


@pytest.fixture
def new_page(browser, site, request):
    """new_page(viewport=DESKTOP) -> a page in a fresh context (its own cookies)."""
    contexts = []
    watcher = PageWatcher(site.url)

    def make(viewport: dict = DESKTOP):
        context = browser.new_context(viewport=viewport, base_url=site.url, locale="en-GB")
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        # The site has no favicon; Chromium's request for one would only log a 404 (and
        # touch the database for the 404 page's notices) in the middle of a test.
        context.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
        contexts.append(context)
        return watcher.attach(context.new_page())

    yield make
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        FAILURE_DIR.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(FAILURE_DIR / f"{name}-{i}-{j}.png"), full_page=True)
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()
    assert not watcher.csp_violations, "Content Security Policy violations:\n" + "\n".join(
        watcher.csp_violations
    )


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


# --- People -----------------------------------------------------------------------------------


@pytest.fixture
def make_user(site):
    from django.contrib.auth import get_user_model

    made = iter(range(1, 1000))

    def make(email: str | None = None, *, verified: bool = True, **fields):
        from allauth.account.models import EmailAddress

        User = get_user_model()
        n = next(made)
        email = email if email is not None else f"person{n}@example.com"
        fields.setdefault("username", f"person{n}")
        with db_lock:
            user = User.objects.create_user(email=email, **fields)
            if email:
                EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
        return user

    return make


def log_in(page, user):
    """Give the page's browser context a signed-in session for `user` (no sign-in UI)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    with db_lock:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "domain": "127.0.0.1", "path": "/"}]
    )
    return page


# --- Background work beside the browser ----------------------------------------------------


def close_thread_connections() -> None:
    """End of a background thread's unit of work: give back its own connections (PostgreSQL);
    the shared in-memory SQLite connection is left open (Django never closes those)."""
    from django.db import connections

    connections.close_all()


def run_locked(fn, *args, **kwargs):
    """Call fn as one unit of database work from a background thread."""
    with sharing_test_connections(), db_lock:
        try:
            return fn(*args, **kwargs)
        finally:
            close_thread_connections()


def in_thread(fn, *args, **kwargs):
    """
    Run fn on a short-lived thread and return its result (or raise its exception).

    For code that runs an asyncio loop of its own (python-telegram-bot via asyncio.run):
    Playwright's sync API keeps a loop running on the test thread, where that would fail.
    """
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = run_locked(fn, *args, **kwargs)
        except BaseException as exc:  # handed back to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"browser-test:{getattr(fn, '__name__', 'call')}")
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():
        raise TimeoutError(f"{fn!r} did not finish within 30 s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def locked_wsgi(app):
    """A WSGI app whose every request is one unit of database work (see run_locked)."""

    def wrapped(environ, start_response):
        return run_locked(lambda: list(app(environ, start_response)))

    return wrapped


class SenderPoller:
    """The local SQS poller's loop on a thread: queue -> handlers.sender.handler, as Lambda does."""

    def __init__(self, queue_url: str):
        self.queue_url = queue_url
        self.stopping = threading.Event()
        self.batches = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="browser-test:sender-poller", daemon=True)

    def _run(self):
        from django.conf import settings

        from handlers.sender import handler
        from infra.local.sqs_poller import poll_once, queue_arn
        from project.core.aws import client

        sqs = client("sqs")
        arn = queue_arn(sqs, self.queue_url)

        def locked_handler(event, context):
            return run_locked(handler, event, context)

        while not self.stopping.is_set():
            try:
                # Short polls with a short pause (not a 1 s long poll), so stopping at the
                # end of a test is immediate.
                received, _failed = poll_once(
                    sqs, self.queue_url, arn, locked_handler, wait=0, region=settings.AWS_REGION
                )
                self.batches += bool(received)
                if not received:
                    self.stopping.wait(0.05)
            except Exception as exc:  # the queue going away at teardown, mostly
                if not self.stopping.is_set():
                    self.errors.append(repr(exc))
                    self.stopping.wait(0.2)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)


class Stack:
    """Everything a person's action can set moving: the site, the sandbox, the queue, the
    sender and the webhook. Tests use its helpers to wait for the asynchronous parts."""

    def __init__(self, site, sandbox, aws, gateway_url: str, poller: SenderPoller):
        self.site = site
        self.sandbox = sandbox
        self.aws = aws
        self.gateway_url = gateway_url
        self.poller = poller

    def chat_url(self, telegram_id: int) -> str:
        return f"{self.sandbox.url}/chat/{telegram_id}"

    def messages(self, telegram_id: int) -> list[dict]:
        return self.sandbox.messages(telegram_id)

    def wait_for_bot_message(self, telegram_id: int, contains: str, timeout: float = 10.0) -> dict:
        """The first message from the bot in this chat whose text contains `contains`."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages(telegram_id):
                sender = message.get("from") or {}
                if sender.get("is_bot") and contains in (message.get("text") or message.get("caption") or ""):
                    return message
            if time.monotonic() > deadline:
                texts = [m.get("text") for m in self.messages(telegram_id)]
                raise AssertionError(
                    f"no bot message containing {contains!r} in chat {telegram_id} within {timeout} s; "
                    f"the chat has {texts}; sender errors: {self.poller.errors}"
                )
            time.sleep(0.05)

    def wait_for_webhook(self, timeout: float = 10.0) -> None:
        """Until the sandbox has delivered every pending update to the site's webhook."""
        self.sandbox.wait_for_delivery(timeout=timeout)


@pytest.fixture
def stack(site, sandbox, aws, settings):
    from werkzeug.serving import make_server

    from infra.local.webhook_gateway import app as gateway_app
    from project.bot.flows.webhook_setup import register_webhook

    server = make_server("127.0.0.1", 0, locked_wsgi(gateway_app), threaded=True)
    gateway_thread = threading.Thread(target=server.serve_forever, name="browser-test:webhook-gateway", daemon=True)
    gateway_thread.start()
    gateway_url = f"http://127.0.0.1:{server.server_port}/telegram/webhook"
    settings.TELEGRAM_WEBHOOK_URL = gateway_url
    in_thread(register_webhook, url=gateway_url)

    poller = SenderPoller(aws.queue_url)
    poller.start()
    try:
        yield Stack(site, sandbox, aws, gateway_url, poller)
    finally:
        poller.stop()
        # Let updates already on their way land before the database is emptied.
        with contextlib.suppress(Exception):
            sandbox.wait_for_delivery(timeout=2)
        server.shutdown()
        server.server_close()
        gateway_thread.join(timeout=5)


def connect_telegram(user, sandbox, telegram_id: int, first_name: str, username: str | None = None):
    """Give `user` a Telegram account in the sandbox (chat started) and link it on the site,
    as the connect flow leaves it (the connect flow itself has its own browser test)."""
    from project.telegram_accounts.models import TelegramAccount

    sandbox.add_user(telegram_id, first_name, username=username, started=True)
    with db_lock:
        return TelegramAccount.objects.create(
            user=user, telegram_id=telegram_id, first_name=first_name, username=username or ""
        )


def reload_until(page, check, timeout: float = 10.0, interval: float = 0.25):
    """Reload the page until check(page) is truthy (the site has no live updates); return it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check(page)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__doc__ or check} still false after {timeout} s on {page.url}")
        page.wait_for_timeout(interval * 1000)
        page.reload()


def list_person(user, name: str, bio: str = ""):
    """A profile that others can find on the People page (the UI for it has its own test)."""
    from project.meetups.flows.profiles import update_profile

    with db_lock:
        return update_profile(user, display_name=name, bio=bio, discoverable=True)


def start_the_bot_from_its_deep_link(page, stack, telegram_id: int) -> str:
    """
    On the sandbox's stand-in for t.me/<bot>?start=<payload> (where the site's deep links
    lead locally and in tests, TELEGRAM_DEEP_LINK_BASE): open the link as the fake user
    `telegram_id` and press Start, as a person does in the Telegram app. The bot receives
    "/start <payload>" and the browser lands on the user's chat page. Returns the payload.
    """
    from urllib.parse import parse_qs, urlsplit

    from django.conf import settings

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Open @{settings.TELEGRAM_BOT_USERNAME} in Telegram")
    url = urlsplit(page.url)
    assert f"{url.scheme}://{url.netloc}" == stack.sandbox.url, page.url
    assert url.path == f"/{settings.TELEGRAM_BOT_USERNAME}", page.url
    payload = parse_qs(url.query)["start"][0]
    page.get_by_label(re.compile(rf"— id {telegram_id}\b")).check()
    page.get_by_role("button", name="Start").click()
    expect(page).to_have_url(stack.chat_url(telegram_id))
    return payload
