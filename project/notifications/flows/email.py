"""A notification by email: the text and the link, in a plain-text and an HTML part."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .. import kinds
from ..models import Delivery
from . import addresses


def send(delivery: Delivery) -> str:
    """Send it; returns a reason when there is nothing to send (skipped), "" when sent."""
    notification = delivery.notification
    if notification is None:
        return "An email delivery needs a notification."
    # The address is checked again now: it may have been removed or unverified since. Not for
    # a security notice: it goes where it was addressed, which may be an address the account
    # has just lost (the one person who most needs to hear of that change).
    if notification.kind == kinds.SECURITY and delivery.address:
        address = delivery.address
    else:
        address = addresses.verified_email(notification.user)
    if not address:
        return "No verified email address."
    context = {
        "notification": notification,
        "link": notification.absolute_link(),
        "settings_url": settings.SITE_URL + reverse("notifications:settings"),
        "SITE_NAME": settings.SITE_NAME,
    }
    subject = f"[{settings.SITE_NAME}] {notification.title}"
    text = render_to_string("notifications/email/notification.txt", context)
    html = render_to_string("notifications/email/notification.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [address])
    message.attach_alternative(html, "text/html")
    message.send()
    if delivery.address != address:
        Delivery.objects.filter(pk=delivery.pk).update(address=address)
        delivery.address = address
    return ""
