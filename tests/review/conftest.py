"""Fixtures of the review tests (tests/review/): a few people, made the way the site makes them."""

from __future__ import annotations

import pytest


@pytest.fixture
def email_user(db):
    """Carol: a site account that came by email (verified address), no Telegram connected."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username="carol", email="carol@example.com", first_name="Carol")
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def signed_in_user(client):
    from django.contrib.auth import get_user_model

    user_id = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=user_id) if user_id else None


@pytest.fixture
def mallory(db, sandbox, request):
    """The attacker: a site account of her own, linked to her own Telegram account (each module
    names the Telegram id, MALLORY_TELEGRAM_ID, so modules never share one)."""
    from django.contrib.auth import get_user_model

    from project.telegram_accounts.flows import linking

    fake = sandbox.add_user(request.module.MALLORY_TELEGRAM_ID, "Mallory", None, "mallory_tg", started=True)
    user = get_user_model().objects.create_user(username="mallory", email="mallory@example.net", first_name="Mallory")
    linking.link(user, {"id": fake.id, "first_name": fake.first_name, "username": fake.username})
    return user, fake
