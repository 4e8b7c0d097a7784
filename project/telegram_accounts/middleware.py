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

Mobile and desktop clients show a Mini App in a web view, where our cookies are first-party.
Telegram Web's iframe is cross-site, where browsers send only `SameSite=None; Secure` (and
increasingly only partitioned) cookies; the session and CSRF cookies are `Lax`, so there the
launch cannot keep a session. The sandbox's launcher is same-site (127.0.0.1), so it cannot
show this; whether to relax the cookies for Telegram Web is a decision for the session's owner.
"""

from __future__ import annotations

from django.urls import reverse

from project.telegram_accounts import conf
from project.telegram_accounts.flows import mini_app, one_tap


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
