"""
How the meetups flows tell people about events: a text rendered from
templates/meetups/notifications/<kind>.txt (plain, short, fit for Telegram and email), a subject
from <kind>.subject.txt, and an absolute link, handed to project.notifications.notify inside
the caller's transaction, so a rolled-back event notifies no one.

Texts carry no links: Telegram shows the link behind words under the text and emails add it
on a line of their own (project/notifications/flows/notify.py, email.py).

Meetup invitations (and the notices that a meetup changed) carry Going / Maybe / Can't
buttons that RSVP from Telegram (project/bot/flows/rsvp_buttons.py). Their callback_data,
`rsvp:<meetup id>:<version>:<answer>`, names the version of the meetup the person saw, so a
press on a message from before a change is told the meetup changed instead of answering
for a time or place they never saw.
"""

from __future__ import annotations

import hashlib

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


# The RSVP buttons: (answer, label) in the order they are shown.
RSVP_CHOICES = (("yes", "Going"), ("maybe", "Maybe"), ("no", "Can't"))


def meetup_version(meetup) -> str:
    """A short fingerprint of what an invitee answers for (title, time, place, notes)."""
    seen = "\x1f".join([meetup.title, meetup.starts_at.isoformat(), meetup.place, meetup.notes])
    return hashlib.sha256(seen.encode("utf-8")).hexdigest()[:8]


def rsvp_buttons(meetup, chosen: str | None = None) -> list[list[dict]]:
    """One row of Going / Maybe / Can't for this version of the meetup; `chosen` is ticked."""
    version = meetup_version(meetup)
    return [[
        {"text": f"✓ {label}" if answer == chosen else label, "callback_data": f"rsvp:{meetup.pk}:{version}:{answer}"}
        for answer, label in RSVP_CHOICES
    ]]
