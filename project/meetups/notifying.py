"""
How the meetups flows tell people about events: a text rendered from
templates/meetups/notifications/<kind>.txt (plain, short, fit for Telegram and email), a subject
from <kind>.subject.txt, and an absolute link, handed to project.notifications.notify inside
the caller's transaction, so a rolled-back event notifies no one.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from project.meetups import conf


def absolute_url(viewname: str, *args) -> str:
    """Links must work from a Telegram chat and an email, so they carry the site's origin."""
    return conf.site_url() + reverse(viewname, args=args)


def render_text(kind: str, context: dict) -> tuple[str, str]:
    text = render_to_string(f"meetups/notifications/{kind}.txt", context).strip()
    # Collapse the blank lines template tags leave behind, but keep paragraph breaks.
    lines: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line and lines and not lines[-1]:
            continue
        lines.append(line)
    subject = " ".join(render_to_string(f"meetups/notifications/{kind}.subject.txt", context).split())
    return subject, "\n".join(lines)


def send(user, kind: str, context: dict, *, link: str, buttons=None):
    """Notify one person; must run inside the event's transaction.atomic() block."""
    from project.notifications import notify

    subject, text = render_text(kind, {**context, "recipient": user, "link": link})
    return notify(user, kind, text=text, link=link, buttons=buttons, subject=subject)
