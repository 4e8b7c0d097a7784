"""
Meetups: a person schedules one (title, time, place, notes), invites people they are matched
with, and may change or cancel it; the invitees answer yes, no or maybe.

Each event runs in one transaction and notifies the people concerned in it: invitees hear of
an invitation (meetup_scheduled), a change and a cancellation; the organizer hears each RSVP.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from project.meetups import notifying
from project.meetups.errors import MeetupsError
from project.meetups.models import Invitation, Meetup, display_name_for, matched_users


class NotOrganizer(MeetupsError):
    default_message = "Only the organizer can do that."


class NotInvited(MeetupsError):
    default_message = "You are not invited to this meetup."


class MeetupClosed(MeetupsError):
    """The meetup was cancelled or has already started; `reason` says which."""

    def __init__(self, meetup: Meetup):
        self.reason = "cancelled" if meetup.is_cancelled else "past"
        super().__init__(
            "This meetup was cancelled." if meetup.is_cancelled else "This meetup has already started."
        )


class StartsInThePast(MeetupsError):
    default_message = "Pick a time in the future."


class NotMatched(MeetupsError):
    """Some of the people to invite are not matched with the organizer (`users`)."""

    def __init__(self, users):
        self.users = list(users)
        names = ", ".join(display_name_for(user) for user in self.users)
        super().__init__(f"You can only invite people you are matched with (not: {names}).")


# Fields a change may touch; what changed is listed in the notification.
CHANGEABLE_FIELDS = ("title", "starts_at", "place", "notes")


def _check_future(starts_at: datetime) -> None:
    if starts_at <= timezone.now():
        raise StartsInThePast()


def _locked_meetup(meetup_id: int) -> Meetup:
    # Lock the meetup so a change, a cancellation and RSVPs happen one after another.
    return Meetup.objects.select_for_update().get(pk=meetup_id)


def _open_meetup_of_organizer(meetup_id: int, by_user) -> Meetup:
    """The meetup, locked, if by_user organizes it and it still takes changes."""
    meetup = _locked_meetup(meetup_id)
    if meetup.organizer_id != by_user.pk:
        raise NotOrganizer()
    if not meetup.is_open:
        raise MeetupClosed(meetup)
    return meetup


def _meetup_context(meetup: Meetup) -> dict:
    return {"meetup": meetup, "organizer_name": display_name_for(meetup.organizer)}


def schedule_meetup(organizer, *, title: str, starts_at: datetime, place: str, notes: str = "", invitees=()) -> Meetup:
    """
    Create a meetup and invite `invitees` (people matched with the organizer), who are
    notified. Raises StartsInThePast or NotMatched; nothing is created then.
    """
    _check_future(starts_at)
    with transaction.atomic():
        meetup = Meetup.objects.create(
            organizer=organizer, title=title.strip(), starts_at=starts_at, place=place.strip(), notes=notes.strip()
        )
        _invite(meetup, invitees)
    return meetup


def invite(meetup_id: int, by_user, invitees: Iterable) -> list[Invitation]:
    """
    The organizer invites more of the people they are matched with; each new invitee is
    notified (meetup_scheduled). People already invited are skipped, not invited twice.
    Raises Meetup.DoesNotExist, NotOrganizer, MeetupClosed or NotMatched.
    """
    with transaction.atomic():
        meetup = _open_meetup_of_organizer(meetup_id, by_user)
        return _invite(meetup, invitees)


def _invite(meetup: Meetup, invitees: Iterable) -> list[Invitation]:
    invitees = {user.pk: user for user in invitees if user.pk != meetup.organizer_id}
    if not invitees:
        return []
    matched_ids = set(matched_users(meetup.organizer).filter(pk__in=invitees).values_list("pk", flat=True))
    strangers = [user for pk, user in invitees.items() if pk not in matched_ids]
    if strangers:
        raise NotMatched(strangers)
    already = set(meetup.invitations.filter(invitee__in=invitees).values_list("invitee_id", flat=True))
    created = Invitation.objects.bulk_create(
        [Invitation(meetup=meetup, invitee=user) for pk, user in invitees.items() if pk not in already]
    )
    link = notifying.absolute_url("meetups:detail", meetup.pk)
    for invitation in created:
        notifying.send(invitation.invitee, "meetup_scheduled", _meetup_context(meetup), link=link,
                       buttons=notifying.rsvp_buttons(meetup))
    return created


def change_meetup(meetup_id: int, by_user, **changes) -> Meetup:
    """
    The organizer changes the title, time, place or notes; every invitee is told what changed.
    RSVPs stay as they are; when the time moves, the notification asks people to check theirs.
    Returns the meetup (unchanged, and nobody notified, when nothing differs).
    Raises Meetup.DoesNotExist, NotOrganizer, MeetupClosed or StartsInThePast.
    """
    unknown = set(changes) - set(CHANGEABLE_FIELDS)
    if unknown:
        raise TypeError(f"change_meetup() cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        meetup = _open_meetup_of_organizer(meetup_id, by_user)
        changed = []
        for field, value in changes.items():
            if isinstance(value, str):
                value = value.strip()
            if getattr(meetup, field) != value:
                if field == "starts_at":
                    _check_future(value)
                setattr(meetup, field, value)
                changed.append(field)
        if not changed:
            return meetup
        meetup.save(update_fields=[*changed, "updated_at"])
        context = {**_meetup_context(meetup), "changed": changed, "time_changed": "starts_at" in changed}
        link = notifying.absolute_url("meetups:detail", meetup.pk)
        for invitation in meetup.invitations.select_related("invitee"):
            notifying.send(invitation.invitee, "meetup_changed", context, link=link,
                           buttons=notifying.rsvp_buttons(meetup, invitation.rsvp))
    return meetup


def cancel_meetup(meetup_id: int, by_user) -> Meetup:
    """
    The organizer cancels a meetup that has not started; every invitee is notified.
    Raises Meetup.DoesNotExist, NotOrganizer or MeetupClosed.
    """
    with transaction.atomic():
        meetup = _open_meetup_of_organizer(meetup_id, by_user)
        meetup.status = Meetup.Status.CANCELLED
        meetup.cancelled_at = timezone.now()
        meetup.save(update_fields=["status", "cancelled_at", "updated_at"])
        link = notifying.absolute_url("meetups:detail", meetup.pk)
        for invitation in meetup.invitations.select_related("invitee"):
            notifying.send(invitation.invitee, "meetup_cancelled", _meetup_context(meetup), link=link)
    return meetup


def rsvp(meetup_id: int, by_user, answer: str) -> Invitation:
    """
    An invitee answers yes, no or maybe (and may change their answer until it starts); the
    organizer is notified when the answer differs from the last one.
    Raises Meetup.DoesNotExist, NotInvited or MeetupClosed; an unknown answer is a ValueError.
    """
    answer = Invitation.Rsvp(answer)  # ValueError for anything but the known answers
    if answer == Invitation.Rsvp.PENDING:
        raise ValueError("An RSVP is yes, no or maybe.")
    with transaction.atomic():
        meetup = _locked_meetup(meetup_id)
        invitation = meetup.invitations.filter(invitee=by_user).first()
        if invitation is None:
            raise NotInvited()
        if not meetup.is_open:
            raise MeetupClosed(meetup)
        if invitation.rsvp == answer:
            return invitation
        invitation.rsvp = answer
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["rsvp", "responded_at"])
        notifying.send(
            meetup.organizer,
            "meetup_rsvp",
            {**_meetup_context(meetup), "invitation": invitation, "invitee_name": display_name_for(by_user)},
            link=notifying.absolute_url("meetups:detail", meetup.pk),
        )
    return invitation
