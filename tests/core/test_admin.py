"""The admin is discovered with the URLconf (settings use SimpleAdminConfig), and still complete."""

import pytest


@pytest.mark.django_db
def test_the_admin_lists_every_apps_models(client, django_user_model):
    admin = django_user_model.objects.create(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    for path in (
        "/admin/accounts/user/",
        "/admin/telegram_accounts/telegramaccount/",
        "/admin/notifications/delivery/",
        "/admin/meetups/matchrequest/",
        "/admin/bot/storedupdate/",
    ):
        assert path in page, path
