"""
Security notices: a person hears, on every channel they have and whatever their settings say
(kind SECURITY cannot be turned off), when the ways into their account change:

- Telegram connected (`linking.link`, to an account that existed before) or disconnected
  (`flows/disconnect.py`; the chat that was disconnected hears it too);
- an email address added, changed or removed (allauth's `email_changed`, `email_removed` and
  `email_added` signals; a changed or removed address is told too, since a person whose
  account was taken over may still read it);
- a sign-in through a way this account had not used before (Django's `user_logged_in`, with
  the way from `request.sign_in_method` or allauth's recorded authentication methods, C3).

Each notice is written in the transaction of its event, like every notification. The texts
name things as the person knows them (display names, @usernames, addresses, never ids) and
say what to do if it was not them.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

logger = logging.getLogger(__name__)

# How each way in is called in a notice ("... signed in with <label> for the first time").
SIGN_IN_METHODS = {
    "email": "a code or link sent by email",
    "telegram": "Telegram",
    "telegram-button": "a button in a Telegram message",
    "telegram-mini-app": "the Telegram Mini App",
}
# allauth's recorded methods -> ours ("code" is email sign-in by code or by link).
_ALLAUTH_METHODS = {"code": "email", "link": "email"}

IF_NOT_YOU = "If this was not you, open your account page now"


def _account_url(anchor: str = "") -> str:
    return reverse("account") + (f"#{anchor}" if anchor else "")


def _tell(user, *, subject: str, text: str, anchor: str = ""):
    """One security notice to every channel `user` has (kind SECURITY ignores preferences)."""
    from project.notifications import kinds, notify

    return notify(user, kinds.SECURITY, subject=subject, text=text, link=_account_url(anchor))


def _now() -> str:
    return date_format(timezone.localtime(), "j F Y, H:i T")


def _also_to(notification, channel: str, **target) -> None:
    """
    Send this notice also to a target the account no longer has: an email address (changed
    or removed) or a Telegram chat (disconnected). notify() settled that channel as skipped
    when the account has nothing there now; that row is reused, so the notifications page
    shows one line per channel.
    """
    from project.notifications.flows.notify import telegram_payload
    from project.notifications.models import Delivery
    from project.notifications.outbox import enqueue_on_commit

    deliveries = list(notification.deliveries.filter(channel=channel))
    if any(d.status == Delivery.Status.QUEUED and all(getattr(d, k) == v for k, v in target.items()) for d in deliveries):
        return
    delivery = next((d for d in deliveries if d.status == Delivery.Status.SKIPPED), None) or Delivery(
        notification=notification, user=notification.user, channel=channel
    )
    delivery.status = Delivery.Status.QUEUED
    delivery.last_error = ""
    if channel == Delivery.Channel.EMAIL:
        delivery.method = Delivery.Method.EMAIL
        delivery.address = target["address"]
    else:
        delivery.method = Delivery.Method.SEND_MESSAGE
        delivery.chat_id = target["chat_id"]
        delivery.payload = telegram_payload(notification)
    delivery.save()
    enqueue_on_commit([delivery.pk])


def _telegram_name(account) -> str:
    name = " ".join(part for part in (account.first_name, account.last_name) if part)
    if name and account.username:
        return f"{name} (@{account.username})"
    return name or (f"@{account.username}" if account.username else "your Telegram account")


# --- Telegram ---------------------------------------------------------------------------------


def account_existed_before(user) -> bool:
    """False while an account is being made by its first sign-in (through Telegram): it has
    never been signed into and has no email. Connecting Telegram to it is how it is made, not news."""
    from allauth.account.models import EmailAddress

    return user.last_login is not None or EmailAddress.objects.filter(user_id=user.pk).exists()


def telegram_connected(user, account) -> None:
    """Call inside the transaction that linked `account` (a TelegramAccount) to `user`."""
    if not account_existed_before(user):
        return
    _tell(
        user,
        subject="Telegram was connected to your account",
        text=(
            f"The Telegram account {_telegram_name(account)} was connected to your account on {_now()}. "
            "It can now sign in to your account, and the bot sends your notifications there.\n\n"
            + IF_NOT_YOU + " and disconnect it."
        ),
        anchor="telegram",
    )


def telegram_disconnected(user, telegram_id: int | None) -> None:
    """Call inside the transaction that unlinked Telegram id `telegram_id` from `user` (None: nothing was)."""
    if telegram_id is None:
        return
    notification = _tell(
        user,
        subject="Telegram was disconnected from your account",
        text=(
            f"Telegram was disconnected from {user.display_name}'s account on {_now()}. "
            "It can no longer sign in to the account, and the bot sends no more notifications to it.\n\n"
            + IF_NOT_YOU + " and connect it again."
        ),
        anchor="telegram",
    )
    _also_to(notification, "telegram", chat_id=telegram_id)


# --- email addresses (allauth's signals) -------------------------------------------------------


def _on_email_changed(sender, request, user, from_email_address, to_email_address, **kwargs):
    if from_email_address is None or from_email_address.pk == getattr(to_email_address, "pk", None):
        subject = "An email address was added to your account"
        text = f"The email address {to_email_address.email} was added to your account on {_now()}. It can now sign in to your account."
    else:
        subject = "Your account's email address was changed"
        text = (
            f"Your account's email address was changed from {from_email_address.email} to "
            f"{to_email_address.email} on {_now()}. Sign-in emails and notifications now go to the new address."
        )
    with transaction.atomic():
        notification = _tell(user, subject=subject, text=text + "\n\n" + IF_NOT_YOU + ".", anchor="email")
        if from_email_address is not None and from_email_address.verified:
            _also_to(notification, "email", address=from_email_address.email)


def _on_email_removed(sender, request, user, email_address, **kwargs):
    with transaction.atomic():
        notification = _tell(
            user,
            subject="An email address was removed from your account",
            text=(
                f"The email address {email_address.email} was removed from your account on {_now()}. "
                "It can no longer sign in to your account.\n\n" + IF_NOT_YOU + "."
            ),
            anchor="email",
        )
        if email_address.verified:
            _also_to(notification, "email", address=email_address.email)


def _on_email_added(sender, request, user, email_address, **kwargs):
    """An address added already verified. With ACCOUNT_CHANGE_EMAIL an address is added
    unverified (not yet a way in) and becomes one through `email_changed`, told above."""
    from allauth.account import app_settings

    if not email_address.verified or app_settings.CHANGE_EMAIL:
        return
    _on_email_changed(sender, request, user, None, email_address)


# --- sign-ins ------------------------------------------------------------------------------------


def sign_in_method(request, user) -> str | None:
    """The way this sign-in came in (contract C3), or None when it cannot be told (a test's
    force_login, a session made by hand): one-tap's own paths say so on the request; allauth
    records each authentication in the session, the last one being this sign-in."""
    from allauth.account.authentication import get_authentication_records

    explicit = getattr(request, "sign_in_method", None)
    if explicit:
        return str(explicit)
    if request is None or not hasattr(request, "session"):
        return None
    records = get_authentication_records(request, user)
    if not records:
        return None
    last = records[-1]
    method = last.get("method") or ""
    if method == "socialaccount":
        from project.telegram_accounts import conf

        provider = last.get("provider") or ""
        return "telegram" if provider in conf.PROVIDER_IDS else f"socialaccount:{provider}"
    return _ALLAUTH_METHODS.get(method, method) or None


def _on_user_logged_in(sender, request, user, **kwargs):
    from project.accounts.models import SignInMethod

    method = sign_in_method(request, user)
    if not method or getattr(user, "pk", None) is None:
        return
    now = timezone.now()
    with transaction.atomic():
        known = set(SignInMethod.objects.filter(user=user).values_list("method", flat=True))
        if method in known:
            SignInMethod.objects.filter(user=user, method=method).update(last_used_at=now)
            return
        _, created = SignInMethod.objects.get_or_create(user=user, method=method, defaults={"first_used_at": now, "last_used_at": now})
        if not created or not known:
            # The account's first recorded sign-in is how it was made (or the first since these
            # notices began): nothing new to tell.
            return
        label = SIGN_IN_METHODS.get(method, method)
        _tell(
            user,
            subject=f"New sign-in with {label}",
            text=(
                f"Someone signed in to your account with {label} on {_now()}: "
                "the first time this account was signed into that way.\n\n"
                + IF_NOT_YOU + " and check which email and Telegram can sign in to it."
            ),
        )
    logger.info("user %s signed in with a new method: %s", user.pk, method)


def connect_signals() -> None:
    from allauth.account import signals as account_signals
    from django.contrib.auth.signals import user_logged_in

    user_logged_in.connect(_on_user_logged_in, dispatch_uid="security_notices.sign_in")
    account_signals.email_changed.connect(_on_email_changed, dispatch_uid="security_notices.email_changed")
    account_signals.email_removed.connect(_on_email_removed, dispatch_uid="security_notices.email_removed")
    account_signals.email_added.connect(_on_email_added, dispatch_uid="security_notices.email_added")
