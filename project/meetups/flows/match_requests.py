"""
Match requests: one person asks another, who chose to be discoverable, to match; the other
accepts or declines (on the site, or with the buttons under the Telegram notification); the
sender may withdraw while it is pending. An accepted request in either direction makes the two
"matched", which is what lets them invite each other to meetups.

Each event runs in one transaction and notifies the people concerned in it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.formats import date_format

from project.meetups import conf, notifying
from project.meetups.errors import MeetupsError
from project.meetups.models import MatchRequest, Profile, display_name_for


class CannotRequestYourself(MeetupsError):
    default_message = "You cannot send a match request to yourself."


class NotDiscoverable(MeetupsError):
    default_message = "This person is not taking match requests."


class AlreadyMatched(MeetupsError):
    default_message = "You are already matched with this person."


class AlreadyPending(MeetupsError):
    """A request between the two is waiting for an answer (`match_request` says which way)."""

    def __init__(self, match_request: MatchRequest, by_user):
        self.match_request = match_request
        if match_request.from_user_id == by_user.pk:
            message = "You already sent this person a request; it is waiting for their answer."
        else:
            message = "This person already sent you a request: answer it on your Requests page."
        super().__init__(message)


class RecentlyDeclined(MeetupsError):
    """The recipient declined this sender's last request lately; `until` is when asking again
    becomes possible (the message says it, in the site's time zone)."""

    def __init__(self, until):
        self.until = until
        super().__init__(
            f"This person declined your last request. You can ask again from {format_moment(until)}."
        )


def format_moment(moment) -> str:
    """A date and time as the site shows them to people: "31 December 2026, 14:05" (local time)."""
    return date_format(timezone.localtime(moment), "j F Y, H:i")


class NotYourRequest(MeetupsError):
    """`by_user` may not act on this request (only its recipient answers, only its sender withdraws)."""

    default_message = "This request is not yours to answer."


class AlreadyAnswered(MeetupsError):
    """The request is no longer pending; `status` is what it is now."""

    def __init__(self, status: str):
        self.status = status
        label = MatchRequest.Status(status).label.lower()
        super().__init__(f"This request was already {label}.")


def send_match_request(from_user, to_user, message: str = "") -> MatchRequest:
    """
    Ask `to_user` to match, with a short message; notifies them with Accept/Decline buttons.

    Raises CannotRequestYourself, NotDiscoverable, AlreadyMatched, AlreadyPending or
    RecentlyDeclined; a message over 500 characters is a ValueError (forms check it first).
    """
    message = (message or "").strip()
    if len(message) > MatchRequest.MESSAGE_MAX_LENGTH:
        raise ValueError(f"A match request message has at most {MatchRequest.MESSAGE_MAX_LENGTH} characters.")
    if from_user.pk == to_user.pk:
        raise CannotRequestYourself()

    with transaction.atomic():
        if not Profile.objects.filter(user=to_user, discoverable=True).exists():
            raise NotDiscoverable()
        between = MatchRequest.objects.between(from_user, to_user)
        if between.filter(status=MatchRequest.Status.ACCEPTED).exists():
            raise AlreadyMatched()
        pending = between.filter(status=MatchRequest.Status.PENDING).first()
        if pending is not None:
            raise AlreadyPending(pending, from_user)
        # Asking again straight after a "no" is pressure, not a request.
        until = may_ask_again_from(from_user, to_user=to_user).get(to_user.pk)
        if until is not None:
            raise RecentlyDeclined(until)

        try:
            # A savepoint: two simultaneous requests between one pair pass the checks above
            # together, and the partial unique index turns the second into an IntegrityError.
            with transaction.atomic():
                match_request = MatchRequest.objects.create(from_user=from_user, to_user=to_user, message=message)
        except IntegrityError:
            pending = between.filter(status=MatchRequest.Status.PENDING).first()
            if pending is None:
                raise
            raise AlreadyPending(pending, from_user) from None

        notifying.send(
            to_user,
            "match_request_received",
            {"match_request": match_request, "sender_name": display_name_for(from_user)},
            link=notifying.absolute_url("meetups:requests") + f"#request-{match_request.pk}",
            buttons=[
                [
                    {"text": "Accept", "callback_data": f"mr:{match_request.pk}:accept"},
                    {"text": "Decline", "callback_data": f"mr:{match_request.pk}:decline"},
                ]
            ],
        )
    return match_request


def may_ask_again_from(from_user, *, to_user=None, now=None) -> dict:
    """
    {user id: when `from_user` may ask them again} for everyone who declined `from_user`'s
    last request to them within the cooldown (MEETUPS_DECLINE_COOLDOWN_DAYS). People not in
    it may be asked now (as far as declines go). One query, for the People page and the check
    (which asks about one `to_user`).
    """
    now = now or timezone.now()
    cooldown = timedelta(days=conf.decline_cooldown_days())
    declined = MatchRequest.objects.filter(
        from_user=from_user, status=MatchRequest.Status.DECLINED, answered_at__gt=now - cooldown
    )
    if to_user is not None:
        declined = declined.filter(to_user=to_user)
    latest = (
        declined.values("to_user_id")
        .annotate(last=Max("answered_at"))
    )
    return {row["to_user_id"]: row["last"] + cooldown for row in latest}


def answer_match_request(match_request_id: int, by_user, accept: bool) -> MatchRequest:
    """
    The recipient accepts or declines a pending request; notifies the sender.

    Used by the site's Accept/Decline buttons and by the Telegram buttons (`mr:<id>:accept`).
    Raises MatchRequest.DoesNotExist for an unknown id, NotYourRequest when `by_user` is not
    the recipient, AlreadyAnswered (with the current status) when it is not pending anymore.
    """
    with transaction.atomic():
        # The row lock makes a double press (site and Telegram at once) answer only once.
        match_request = MatchRequest.objects.select_for_update().get(pk=match_request_id)
        if match_request.to_user_id != by_user.pk:
            raise NotYourRequest()
        if not match_request.is_pending:
            raise AlreadyAnswered(match_request.status)

        match_request.status = MatchRequest.Status.ACCEPTED if accept else MatchRequest.Status.DECLINED
        match_request.answered_at = timezone.now()
        match_request.save(update_fields=["status", "answered_at"])

        notifying.send(
            match_request.from_user,
            "match_request_answered",
            {
                "match_request": match_request,
                "accepted": accept,
                "recipient_name": display_name_for(match_request.to_user),
            },
            link=(
                notifying.absolute_url("meetups:create")
                if accept
                else notifying.absolute_url("meetups:requests") + f"#request-{match_request.pk}"
            ),
        )
    return match_request


def withdraw_match_request(match_request_id: int, by_user) -> MatchRequest:
    """
    The sender takes back a request that is still pending. Nobody is notified: the recipient's
    notification simply stops working (its buttons answer "already withdrawn").

    Raises MatchRequest.DoesNotExist, NotYourRequest (not the sender) or AlreadyAnswered.
    """
    with transaction.atomic():
        match_request = MatchRequest.objects.select_for_update().get(pk=match_request_id)
        if match_request.from_user_id != by_user.pk:
            raise NotYourRequest("Only the person who sent a request can withdraw it.")
        if not match_request.is_pending:
            raise AlreadyAnswered(match_request.status)
        match_request.status = MatchRequest.Status.WITHDRAWN
        match_request.answered_at = timezone.now()
        match_request.save(update_fields=["status", "answered_at"])
    return match_request
