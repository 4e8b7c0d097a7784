"""
Local email: printed to the terminal and kept in var/mail/ for the /dev/mail/ page.

Files rather than memory, because several local processes send mail (the site, and the
sender fed from the local queue) and one page shows them all.
"""

from __future__ import annotations

import email
import email.policy
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

KEEP = 50
URL_PATTERN = re.compile(r"https?://[^\s<>\"']+")


class LocalMailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        folder = Path(settings.LOCAL_MAIL_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            raw = message.message().as_bytes(linesep="\n")
            name = f"{time.time_ns()}.eml"
            (folder / name).write_bytes(raw)
            body = message.body
            sys.stdout.write(
                f"\n----- email to {', '.join(message.to)} -----\n"
                f"Subject: {message.subject}\n\n{body}\n"
                f"----- (also at {settings.SITE_URL}/dev/mail/) -----\n"
            )
            sys.stdout.flush()
            sent += 1
        for old in sorted(folder.glob("*.eml"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return sent


@dataclass
class StoredMail:
    id: str
    to: str
    subject: str
    date: str
    text: str
    html: str
    links: list[str]


def _parse(path: Path) -> StoredMail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part else ""
    html = html_part.get_content() if html_part else ""
    links = list(dict.fromkeys(URL_PATTERN.findall(text)))
    return StoredMail(
        id=path.stem,
        to=str(message["To"] or ""),
        subject=str(message["Subject"] or ""),
        date=str(message["Date"] or ""),
        text=text,
        html=html,
        links=links,
    )


def latest_mail(limit: int = 20) -> list[StoredMail]:
    folder = Path(settings.LOCAL_MAIL_DIR)
    if not folder.exists():
        return []
    return [_parse(path) for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]]
