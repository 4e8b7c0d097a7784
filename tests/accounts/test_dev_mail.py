"""The local /dev/mail/ page: a newcomer signs in with nothing but the site running."""

import importlib

import pytest
from django.test import Client
from django.urls import clear_url_caches

import project.urls

pytestmark = pytest.mark.django_db


def _reload_urls():
    # project/urls.py adds /dev/mail/ only when STAGE is "local", at import time.
    importlib.reload(project.urls)
    clear_url_caches()


@pytest.fixture
def local_stage(settings, tmp_path):
    settings.STAGE = "local"
    settings.EMAIL_BACKEND = "project.core.mail.LocalMailBackend"
    settings.LOCAL_MAIL_DIR = tmp_path / "mail"
    _reload_urls()
    yield settings
    settings.STAGE = "test"
    _reload_urls()


def test_local_stage_lists_the_sign_in_email_with_its_link_and_it_signs_in(local_stage, capsys):
    newcomer = Client()
    newcomer.post("/accounts/login/", {"email": "newcomer@example.com"})
    printed = capsys.readouterr().out
    assert "email to newcomer@example.com" in printed  # printed to the terminal too

    page = Client().get("/dev/mail/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "newcomer@example.com" in body
    assert "Your Meetups sign-in code:" in body
    link = page.context["mails"][0].links[0]
    assert link.startswith("http://127.0.0.1:8000/accounts/login/link/")
    assert f'<a href="{link}">' in body

    path = link.removeprefix("http://127.0.0.1:8000")
    assert newcomer.get(path).status_code == 200
    assert newcomer.post(path).status_code == 302
    assert newcomer.session.get("_auth_user_id")


def test_local_stage_footer_links_to_the_mail_page(local_stage):
    assert 'href="/dev/mail/"' in Client().get("/").content.decode()


def test_newest_email_first(local_stage):
    client = Client()
    client.post("/accounts/login/", {"email": "first@example.com"})
    client.post("/accounts/login/", {"email": "second@example.com"})
    mails = Client().get("/dev/mail/").context["mails"]
    assert [m.to for m in mails[:2]] == ["second@example.com", "first@example.com"]


def test_not_there_on_the_test_stage(client):
    assert client.get("/dev/mail/").status_code == 404


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_404_on_deployed_stages_even_if_routed(local_stage, stage):
    local_stage.STAGE = stage
    assert Client().get("/dev/mail/").status_code == 404
