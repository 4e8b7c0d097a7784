from django.urls import reverse

from project.bot import conf


def test_the_paths_the_bot_links_to_match_the_urlconf():
    assert conf.account_path() == reverse("account")
    assert conf.notification_settings_path() == reverse("notifications:settings")
    assert conf.meetup_path(12) == reverse("meetups:detail", args=[12])
