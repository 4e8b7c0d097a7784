"""
Pages shown inside Telegram: Telegram Web may frame them, and they wear Telegram's colours.

A session that came in through the Mini App (flows/mini_app.py marks it) is shown inside
Telegram: in a mobile client's web view, or in an iframe of Telegram Web. Its responses, and
the Mini App's own launch page, name Telegram Web (and locally the sandbox playing it) in
frame-ancestors; every other response keeps `frame-ancestors 'none'` (core's CSP middleware
writes the header). Its HTML pages also get the theme stylesheet, which maps the colours
Telegram passed onto the site's CSS variables and fits the page to a phone screen: added
here so that every page, whoever's template it is, looks right inside Telegram without
knowing about it.

Cookies inside Telegram Web's frame (TelegramWebCookiesMiddleware). Mobile and desktop
clients show a Mini App in a web view, as a top-level page: our cookies are first-party there.
Telegram Web (web.telegram.org) shows it in an iframe, which is cross-site, and there browsers
neither send `SameSite=Lax`/`Strict` cookies nor store them from responses (Chromium reports
the Set-Cookie as blocked). With the site's Lax cookies the launch page's CSRF cookie never
arrives, so the launch POST is refused (403) and no session could be kept either. What works:

- `SameSite=None; Secure` cookies are third-party cookies in that frame: Chrome sends them
  unless the person blocks third-party cookies (Incognito does by default), Firefox keeps
  them partitioned per top-level site (Total Cookie Protection), Safari blocks them all.
- With `Partitioned` (CHIPS: Chrome and Edge 114+, Firefox 131+, Safari 26.2+; 18.4 had it,
  18.5 took it out again) the cookie lives in a jar keyed by the top-level site
  (web.telegram.org) and is allowed even where third-party cookies are blocked. It is never
  sent when the site is visited directly, and the site's first-party cookies are never sent
  into the frame: two separate jars under the same cookie names.

So a response shown in Telegram Web's frame sets every cookie it sets (session, CSRF,
messages) `SameSite=None; Secure; Partitioned`, and every other response keeps the site's
own attributes (`Lax`; `Secure` when deployed, settings.py). "Shown in Telegram Web's frame"
means both: the response may be framed by Telegram (InTelegramMiddleware below named Telegram
Web in its frame-ancestors: a Mini App page, or a page of a session that came in through one),
and the browser is loading it into a frame (`Sec-Fetch-Dest: iframe`, which Chromium, Firefox
and Safari 16.4+ send with a frame's navigations; a page cannot forge it). A web view's
top-level page, and any normal visit, gets no `SameSite=None` cookie. Known limits: Safari
before 26.2 keeps no cookie at all in Telegram Web's frame (only the Storage Access API
could), and a browser that ignores `Partitioned` but allows third-party cookies (Chrome before
114) would share the frame's cookies with direct visits.

Django 5.2 (like Python 3.11's http.cookies) has no `Partitioned` attribute, so the morsels
are replaced by a Morsel subclass that writes it (Python 3.14's Morsel knows `partitioned`).
The middleware sits above the session, CSRF and messages middleware in settings.MIDDLEWARE so
that it sees the cookies they set; the sandbox's launcher frames the site cross-site (from the
other loopback name) so that the browser tests meet what Telegram Web's users meet.
"""

from __future__ import annotations

from http.cookies import Morsel

from django.urls import reverse

from project.telegram_accounts import conf
from project.telegram_accounts.flows import known_browser, mini_app, one_tap


class InTelegramMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        before = one_tap.in_telegram(request)
        response = self.get_response(request)
        theme = one_tap.in_telegram(request)
        if theme is None and before is not None:
            # Signed out (the session was flushed), still inside Telegram: the next page must
            # show there too, not be refused by the frame it is in.
            one_tap.mark_in_telegram(request, before)
            theme = before
        if theme is None and not getattr(response, "telegram_mini_app", False):
            return response
        response.csp_frame_ancestors = conf.mini_app_frame_ancestors()
        if theme is not None:
            self._add_theme(response, theme)
        return response

    @staticmethod
    def _add_theme(response, theme: dict) -> None:
        if response.streaming or not response.get("Content-Type", "").startswith("text/html"):
            return
        content = response.content
        if b"</head>" not in content:
            return
        href = f"{reverse('telegram_mini_app_theme')}?v={mini_app.theme_version(theme)}"
        link = f'<link rel="stylesheet" href="{href}">\n'.encode()
        response.content = content.replace(b"</head>", link + b"</head>", 1)
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))


# --- cookies inside Telegram Web's frame -------------------------------------------------------

# Sec-Fetch-Dest of a navigation inside a frame.
FRAME_DESTINATIONS = ("iframe", "frame")


class PartitionedMorsel(Morsel):
    """A cookie with the `Partitioned` attribute (CHIPS), which http.cookies lacks before 3.14."""

    _reserved = {**Morsel._reserved, "partitioned": "Partitioned"}
    _flags = Morsel._flags | {"partitioned"}


def partitioned(morsel: Morsel) -> PartitionedMorsel:
    """`morsel` as a cookie for a cross-site frame: SameSite=None; Secure; Partitioned, the rest
    (value, path, expiry or deletion, HttpOnly) as it was."""
    cookie = PartitionedMorsel()
    cookie.set(morsel.key, morsel.value, morsel.coded_value)
    for key, value in morsel.items():
        if value != "":
            cookie[key] = value
    cookie["samesite"] = "None"
    cookie["secure"] = True
    cookie["partitioned"] = True
    return cookie


def in_telegram_web_frame(request, response) -> bool:
    """The response is a page Telegram may frame, loaded into a frame (see the module's notes)."""
    return bool(getattr(response, "csp_frame_ancestors", None)) and (
        request.headers.get("Sec-Fetch-Dest", "").lower() in FRAME_DESTINATIONS
    )


class TelegramWebCookiesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.cookies and in_telegram_web_frame(request, response):
            for name, morsel in list(response.cookies.items()):
                response.cookies[name] = partitioned(morsel)
        return response


# --- the known browser ----------------------------------------------------------------------


class KnownBrowserMiddleware:
    """Writes the known-browser cookie on the response of every sign-in (flows/known_browser.py).
    Below TelegramWebCookiesMiddleware in settings.MIDDLEWARE, so that inside Telegram Web's
    frame this cookie is partitioned as the session cookie is."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        known_browser.remember(request, response)
        return response
