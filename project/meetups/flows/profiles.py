"""
A person's profile: the name and short bio others see, and whether they are discoverable at
all (off until they opt in). Not an event: nobody is notified.
"""

from __future__ import annotations

from django.db import transaction

from project.meetups.models import Profile


def update_profile(user, *, display_name: str, bio: str, discoverable: bool) -> Profile:
    """
    Save what others see. Opting out hides the person from the People page and stops new
    requests; requests already pending stay answerable, and matches stay matches.
    """
    with transaction.atomic():
        profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
        profile.display_name = display_name.strip()
        profile.bio = bio.strip()
        profile.discoverable = discoverable
        profile.save()
    return profile
