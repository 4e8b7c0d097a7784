"""
The site's own small domain: people who chose to be discoverable, match requests between
them, and meetups the matched people are invited to. It exists to produce real events; the
flows in `project/meetups/flows/` change these rows and notify the people concerned.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Greatest, Least
from django.urls import reverse
from django.utils import timezone


def display_name_for(user) -> str:
    """What other people see as this person's name: `User.display_name` (contract C4)."""
    return user.display_name


class Profile(models.Model):
    """What other people may see of a person. Nobody is listed until they opt in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetups_profile")
    display_name = models.CharField(max_length=80, blank=True, help_text="Shown to other people. Leave empty to use your name.")
    bio = models.CharField("short bio", max_length=280, blank=True)
    discoverable = models.BooleanField(
        default=False, help_text="List me on the People page, so others can send me match requests."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["discoverable"], name="meetups_profile_discoverable")]

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        return display_name_for(self.user)

    @classmethod
    def for_user(cls, user) -> Profile:
        """Every person has a profile once they need one; it starts private."""
        profile, _ = cls.objects.get_or_create(user=user)
        return profile


class MatchRequestQuerySet(models.QuerySet):
    def between(self, a, b):
        return self.filter(Q(from_user=a, to_user=b) | Q(from_user=b, to_user=a))

    def involving(self, user):
        return self.filter(Q(from_user=user) | Q(to_user=user))


class MatchRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    MESSAGE_MAX_LENGTH = 500

    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="match_requests_sent")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="match_requests_received")
    message = models.CharField(max_length=MESSAGE_MAX_LENGTH, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True, help_text="When it was accepted, declined or withdrawn.")

    objects = MatchRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(from_user=models.F("to_user")), name="match_request_not_to_self"),
            # One pending request per pair, whichever of the two sent it. The flow checks this
            # first to give a clear message; the index is what holds under concurrent requests.
            models.UniqueConstraint(
                Least("from_user", "to_user"),
                Greatest("from_user", "to_user"),
                condition=Q(status="pending"),
                name="one_pending_match_request_per_pair",
            ),
        ]
        indexes = [models.Index(fields=["to_user", "status"], name="meetups_mr_to_status")]

    def __str__(self):
        return f"{display_name_for(self.from_user)} → {display_name_for(self.to_user)} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


def matched_users(user):
    """Everyone `user` is matched with: an accepted request in either direction."""
    from django.contrib.auth import get_user_model

    accepted = MatchRequest.objects.filter(status=MatchRequest.Status.ACCEPTED)
    return get_user_model().objects.filter(
        Q(pk__in=accepted.filter(from_user=user).values("to_user"))
        | Q(pk__in=accepted.filter(to_user=user).values("from_user"))
    )


def are_matched(a, b) -> bool:
    return MatchRequest.objects.between(a, b).filter(status=MatchRequest.Status.ACCEPTED).exists()


class MeetupQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The organizer and the invitees see a meetup; nobody else learns it exists."""
        return self.filter(Q(organizer=user) | Q(invitations__invitee=user)).distinct()


class Meetup(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        CANCELLED = "cancelled", "Cancelled"

    organizer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetups_organized")
    title = models.CharField(max_length=120)
    starts_at = models.DateTimeField()
    place = models.CharField(max_length=200)
    notes = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = MeetupQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("meetups:detail", args=[self.pk])

    @property
    def is_cancelled(self) -> bool:
        return self.status == self.Status.CANCELLED

    @property
    def is_past(self) -> bool:
        return self.starts_at <= timezone.now()

    @property
    def is_open(self) -> bool:
        """Still scheduled and still ahead: it can be changed, joined, answered."""
        return not self.is_cancelled and not self.is_past


class Invitation(models.Model):
    class Rsvp(models.TextChoices):
        PENDING = "pending", "Not answered"
        YES = "yes", "Going"
        MAYBE = "maybe", "Maybe"
        NO = "no", "Not going"

    meetup = models.ForeignKey(Meetup, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetup_invitations")
    rsvp = models.CharField(max_length=10, choices=Rsvp.choices, default=Rsvp.PENDING)
    invited_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invited_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["meetup", "invitee"], name="one_invitation_per_person")]

    def __str__(self):
        return f"{display_name_for(self.invitee)} to {self.meetup} ({self.rsvp})"
