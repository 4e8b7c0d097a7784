"""
One spelling per email address, so one address is one account.

An address typed as `Ada@Bücher.example`, `ada@bücher.example` or `ada@xn--bcher-kva.example`
is the same mailbox: it is stored, looked up and rate-limited as `ada@xn--bcher-kva.example`
(lower case, the domain in its ASCII form, IDNA 2008 / UTS #46 as browsers resolve it, so
`straße.de` stays `xn--strae-oqa.de` and is not turned into the different `strasse.de`).
The ASCII form is also what mail servers and SES are given.

Addresses longer than 254 characters (RFC 5321, and the database's varchar(254)) are a form
error; before, PostgreSQL refused the row and the page answered 500.

Every form that takes an address goes through `normalize_email`: the sign-in form
(project/accounts/forms.py) and allauth's own email forms through the adapter's
`clean_email` (project/accounts/adapter.py).
"""

from __future__ import annotations

import idna
from django.core.exceptions import ValidationError

MAX_LENGTH = 254


def normalize_email(value: str) -> str:
    """The one stored spelling of an address; ValidationError for what cannot be one."""
    value = (value or "").strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise ValidationError("Enter a valid email address.", code="invalid")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise ValidationError("Enter a valid email address.", code="invalid") from None
    email = f"{local.lower()}@{ascii_domain.lower()}"
    if len(email) > MAX_LENGTH:
        raise ValidationError(
            f"An email address can be at most {MAX_LENGTH} characters long.", code="max_length"
        )
    return email
