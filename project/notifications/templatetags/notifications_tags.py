"""How a notification reads on the site's notifications page."""

from __future__ import annotations

import re

from django import template
from django.conf import settings

register = template.Library()

_URL = re.compile(r"https?://[^\s<>\"']+")
# "Label: <url>" where the label is a few words after a sentence's end (or the line's start).
_LABELLED = re.compile(r"(^|(?<=[.!?])\s+)([^.!?:\n]{0,40}):\s*$")
_SHORT_LABEL_WORDS = 4


def _own_link(url: str, notification) -> bool:
    url = url.rstrip(".,;:!?)")
    return url.startswith(settings.SITE_URL.rstrip("/") + "/") or url == notification.absolute_link()


def _without_link(line: str, notification) -> str:
    """The line with this site's links taken out: a short label before one ("Details: <url>",
    "Accept or decline: <url>") goes with it; a sentence that ended in one ends with a full stop."""
    while True:
        match = next((m for m in _URL.finditer(line) if _own_link(m.group(0), notification)), None)
        if match is None:
            return line
        before, after = line[: match.start()].rstrip(), line[match.end():]
        label = _LABELLED.search(before)
        if label and len(label.group(2).split()) <= _SHORT_LABEL_WORDS:
            before = before[: label.start(2)].rstrip()
        elif before.endswith(":"):
            before = before[:-1].rstrip() + "."
        line = (before + after).strip()


@register.filter
def text_for_the_site(notification) -> str:
    """
    The notification's text without links to this site: on the site the Open button is the
    link, so "Accept or decline: https://..." beside it is noise. Links someone wrote in
    their own words (a match request's message) are not the site's and stay.
    """
    lines = []
    for line in notification.text.splitlines():
        if _URL.search(line):
            line = _without_link(line, notification)
            if not line:
                continue
        lines.append(line)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)
