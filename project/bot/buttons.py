"""
Buttons under the bot's messages that open a page of this site (contract C1).

Every Telegram message that links to the site builds its button here, so how such a button
opens the site is decided in one place: today a plain `url` button to SITE_URL + path; the
one-tap work turns it into a `login_url` button that signs the person in on the way.
`path` is always a path of this site ("/requests/12/"), never a full URL: a caller cannot
turn a site button into a link to somewhere else.
"""

from __future__ import annotations

from django.conf import settings


class NotASitePath(ValueError):
    pass


def site_path(path: str) -> str:
    """`path` if it is a path of this site; raises NotASitePath otherwise."""
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or "\\" in path:
        raise NotASitePath(f"site buttons take a path of this site, not {str(path)[:80]!r}")
    if any(ord(ch) < 0x21 for ch in path):
        raise NotASitePath("a site path has no spaces or control characters")
    return path


def site_button(text: str, path: str, *, write_access: bool = False) -> dict:
    """An InlineKeyboardButton (as a dict) that opens `path` on this site.

    `write_access` asks Telegram to let the bot write to the person (used once login_url
    buttons sign people in; a plain url button has nothing to ask)."""
    # A login_url button: Telegram opens the site's login-URL endpoint with the person's
    # signed fields, which signs them in on the way to `path` (one-tap, issue 14).
    from project.telegram_accounts.flows import login_url

    return login_url.button(text, site_path(path), write_access=write_access)


def path_of(link: str) -> str | None:
    """The site path of a link that is a path or an absolute URL of this site, else None."""
    if not link:
        return None
    if link.startswith(settings.SITE_URL + "/"):
        link = link[len(settings.SITE_URL):]
    elif "://" not in link and not link.startswith("/"):
        link = "/" + link
    try:
        return site_path(link)
    except NotASitePath:
        return None
