"""`User.display_name` (contract C4): how a person is shown everywhere, whichever way they
signed up, and never the username allauth generated for them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def _user(django_user_model, **fields):
    fields.setdefault("username", "alice1796027424")
    return django_user_model.objects.create(**fields)


def test_profile_name_comes_first(django_user_model):
    from project.meetups.models import Profile
    from project.telegram_accounts.models import TelegramAccount

    user = _user(django_user_model, email="alice@example.org", first_name="Alice", last_name="A")
    TelegramAccount.objects.create(user=user, telegram_id=1001, first_name="Ali")
    Profile.objects.create(user=user, display_name="  Al  ")
    user.refresh_from_db()
    assert user.display_name == "Al"


def test_account_name_then_telegram_name(django_user_model):
    from project.telegram_accounts.models import TelegramAccount

    user = _user(django_user_model, email="alice@example.org", first_name="Alice", last_name="Liddell")
    assert user.display_name == "Alice Liddell"
    other = _user(django_user_model, username="tg_77", email="")
    TelegramAccount.objects.create(user=other, telegram_id=77, first_name="Bob", last_name="Ross", username="bobr")
    other.refresh_from_db()
    assert other.display_name == "Bob Ross"


def test_telegram_username_when_telegram_has_no_name(django_user_model):
    from project.telegram_accounts.models import TelegramAccount

    user = _user(django_user_model, email="")
    TelegramAccount.objects.create(user=user, telegram_id=78, username="carol")
    user.refresh_from_db()
    assert user.display_name == "@carol"


def test_email_local_part_never_the_whole_address_nor_the_username(django_user_model):
    from project.meetups.models import Profile

    user = _user(django_user_model, email="alice@example.org")
    Profile.objects.create(user=user, display_name="   ")  # an empty-looking name is no name
    user.refresh_from_db()
    assert user.display_name == "alice"
    assert "alice1796027424" not in user.display_name and "@" not in user.display_name


def test_someone_with_nothing_yet_is_a_member_not_a_username(django_user_model):
    user = _user(django_user_model, email="")
    assert user.display_name == f"Member {user.pk}"


def test_meetups_helper_is_the_same_name(django_user_model):
    from project.meetups.models import display_name_for

    user = _user(django_user_model, email="dora@example.org")
    assert display_name_for(user) == user.display_name == "dora"
