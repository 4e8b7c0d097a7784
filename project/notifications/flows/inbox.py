"""A person's notifications on the site: the list, and marking them read."""

from __future__ import annotations

from django.utils import timezone

from ..models import Notification


def for_user(user):
    return Notification.objects.filter(user=user).prefetch_related("deliveries")


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def mark_read(user, notification_id: int) -> Notification | None:
    notification = Notification.objects.filter(user=user, pk=notification_id).first()
    if notification is not None and notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def mark_all_read(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
