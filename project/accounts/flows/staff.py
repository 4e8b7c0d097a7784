"""
Staff accounts: made from an email address, never with a password.

Staff sign in like everyone else, by email (code or link) or Telegram, and the admin sends
them through that sign-in (project/accounts/admin_site.py). `make_staff` makes the account
(or promotes the one that already uses the address) with the address verified, so the
first sign-in email goes to it and lands in that account.
"""

from __future__ import annotations

import logging

from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.account.utils import filter_users_by_email, user_email
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

logger = logging.getLogger(__name__)


def make_staff(email: str, *, superuser: bool = False):
    """The staff account for `email` (created, or the existing one promoted); returns
    (user, created). Raises ValidationError for an address that is not one."""
    from project.accounts.emails import normalize_email

    email = normalize_email(email)
    validate_email(email)
    with transaction.atomic():
        users = filter_users_by_email(email, prefer_verified=True)
        created = not users
        if created:
            adapter = get_adapter()
            user = adapter.new_user(None)
            user_email(user, email)
            adapter.populate_username(None, user)
        else:
            user = users[0]
        user.is_staff = True
        user.is_active = True
        if superuser:
            user.is_superuser = True
        user.set_unusable_password()
        user.save()
        address = EmailAddress.objects.filter(user=user, email__iexact=email).first()
        if address is None:
            has_primary = EmailAddress.objects.filter(user=user, primary=True).exists()
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=not has_primary)
        elif not address.verified:
            # The operator vouches for the address by naming it here.
            address.verified = True
            address.save(update_fields=["verified"])
    logger.info("staff account %s %s (superuser: %s)", user.pk, "created" if created else "promoted", user.is_superuser)
    return user, created


__all__ = ["make_staff", "ValidationError"]
