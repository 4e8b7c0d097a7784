"""
The kinds of notification the site sends, and what each may do.

A kind is a code-level constant (callers pass `kinds.MATCH_REQUEST_RECEIVED` or the string);
its label and description are what the settings page shows, its default channels what a
person gets before they touch their settings, and `can_turn_off=False` marks the kinds that
are about the safety of the account: they go out whatever the preferences and the all-off
switch say, and the settings page shows them as always on.
"""

from __future__ import annotations

from dataclasses import dataclass

TELEGRAM = "telegram"
EMAIL = "email"
CHANNELS = (TELEGRAM, EMAIL)
CHANNEL_LABELS = {TELEGRAM: "Telegram", EMAIL: "Email"}


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    description: str
    default_channels: frozenset[str]
    can_turn_off: bool = True


MATCH_REQUEST_RECEIVED = "match_request_received"
MATCH_REQUEST_ANSWERED = "match_request_answered"
MEETUP_SCHEDULED = "meetup_scheduled"
MEETUP_CHANGED = "meetup_changed"
MEETUP_CANCELLED = "meetup_cancelled"
MEETUP_RSVP = "meetup_rsvp"
SUPPORT_REPLY = "support_reply"
SECURITY = "security"

_BOTH = frozenset({TELEGRAM, EMAIL})
_TELEGRAM_ONLY = frozenset({TELEGRAM})

KINDS: dict[str, Kind] = {
    kind.code: kind
    for kind in (
        Kind(MATCH_REQUEST_RECEIVED, "Match request received",
             "Someone would like to meet you.", _BOTH),
        Kind(MATCH_REQUEST_ANSWERED, "Match request answered",
             "Someone accepted or declined your match request.", _BOTH),
        Kind(MEETUP_SCHEDULED, "Meetup scheduled",
             "You were invited to a meetup.", _BOTH),
        Kind(MEETUP_CHANGED, "Meetup changed",
             "The time or place of a meetup you are in changed.", _TELEGRAM_ONLY),
        Kind(MEETUP_CANCELLED, "Meetup cancelled",
             "A meetup you are in was cancelled.", _BOTH),
        Kind(MEETUP_RSVP, "Meetup replies",
             "Someone answered the invitation to your meetup.", _TELEGRAM_ONLY),
        Kind(SUPPORT_REPLY, "Support replies",
             "Our team answered your message.", _TELEGRAM_ONLY),
        Kind(SECURITY, "Account security",
             "Sign-ins and changes to how you sign in (for example, Telegram was connected). "
             "These cannot be turned off.", _BOTH, can_turn_off=False),
    )
}

CHOICES = [(kind.code, kind.label) for kind in KINDS.values()]


class UnknownKind(ValueError):
    pass


def get(code: str) -> Kind:
    try:
        return KINDS[code]
    except KeyError:
        raise UnknownKind(f"Unknown notification kind {code!r}; add it to project/notifications/kinds.py.") from None
