"""The email sign-in flow end to end, through the real views, allauth and the mail outbox."""

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.account.signals import user_signed_up
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from project.accounts.models import EmailSignIn
from tests.accounts.helpers import last_sign_in_email, request_sign_in, signed_in_user

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def returning_user():
    user = User.objects.create(username="ada", email="ada@example.com")
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email="ada@example.com", primary=True, verified=True)
    return user


# --- by code ---------------------------------------------------------------------------------


def test_new_email_by_code_creates_the_account_only_on_confirmation(client):
    signed_up = []
    user_signed_up.connect(lambda sender, user, **kw: signed_up.append(user), weak=False, dispatch_uid="t1")
    try:
        response = request_sign_in(client, "New.Person@Example.com")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/code/confirm/"

        # Asked for, not confirmed: no account, no address.
        assert not User.objects.filter(email__iexact="new.person@example.com").exists()
        assert not EmailAddress.objects.exists()

        sent = last_sign_in_email()
        assert sent.to == ["new.person@example.com"]
        page = client.get("/accounts/login/code/confirm/")
        assert page.status_code == 200
        assert "new.person@example.com" in page.content.decode()

        response = client.post("/accounts/login/code/confirm/", {"code": sent.code})
        assert response.status_code == 302
        assert response["Location"] == "/"
    finally:
        user_signed_up.disconnect(dispatch_uid="t1")

    user = signed_in_user(client)
    assert user is not None and user.email == "new.person@example.com"
    assert not user.has_usable_password()
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == ("new.person@example.com", True, True)
    assert signed_up == [user]
    assert EmailSignIn.objects.get().outcome == EmailSignIn.Outcome.SIGNED_IN_BY_CODE


def test_returning_email_by_code_signs_into_the_same_account(client, returning_user):
    request_sign_in(client, "ADA@example.com")
    response = client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email().code})
    assert response.status_code == 302
    assert signed_in_user(client) == returning_user
    assert User.objects.count() == 1


def test_code_may_be_typed_in_lower_case_without_dash_or_with_spaces(client):
    request_sign_in(client, "typist@example.com")
    letters = last_sign_in_email().code.replace("-", "").lower()
    response = client.post("/accounts/login/code/confirm/", {"code": f" {letters[:4]} {letters[4:]} "})
    assert response.status_code == 302
    assert signed_in_user(client).email == "typist@example.com"


def test_code_works_only_in_the_browser_that_asked(client):
    request_sign_in(client, "one@example.com")
    code = last_sign_in_email().code
    other = Client()
    response = other.post("/accounts/login/code/confirm/", {"code": code})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert signed_in_user(other) is None
    # ...and the sign-in is still there for the right browser.
    client.post("/accounts/login/code/confirm/", {"code": code})
    assert signed_in_user(client).email == "one@example.com"


def test_next_is_kept_through_the_code_and_unsafe_next_is_ignored(client):
    client.post("/accounts/login/?next=/accounts/", {"email": "next@example.com"})
    response = client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email().code})
    assert response["Location"] == "/accounts/"

    other = Client()
    other.post("/accounts/login/?next=https://evil.example/", {"email": "next2@example.com"})
    response = other.post("/accounts/login/code/confirm/", {"code": last_sign_in_email().code})
    assert response["Location"] == "/"


# --- by link ---------------------------------------------------------------------------------


def test_link_opened_in_another_browser_shows_a_button_and_the_post_signs_in(client):
    request_sign_in(client, "linker@example.com")
    sent = last_sign_in_email()
    assert sent.link.startswith("http://127.0.0.1:8000/accounts/login/link/")

    phone = Client()
    page = phone.get(sent.path)
    assert page.status_code == 200
    body = page.content.decode()
    assert '<form method="post"' in body and "Sign in as linker@example.com" in body
    assert signed_in_user(phone) is None

    response = phone.post(sent.path)
    assert response.status_code == 302 and response["Location"] == "/"
    user = signed_in_user(phone)
    assert user.email == "linker@example.com"
    assert EmailAddress.objects.get(user=user).verified
    assert EmailSignIn.objects.get().outcome == EmailSignIn.Outcome.SIGNED_IN_BY_LINK


def test_a_scanner_fetching_the_link_signs_in_nobody_and_burns_nothing(client):
    request_sign_in(client, "scanned@example.com")
    sent = last_sign_in_email()
    scanner = Client()
    for _ in range(3):
        assert scanner.get(sent.path).status_code == 200
        assert scanner.head(sent.path).status_code == 200
    assert signed_in_user(scanner) is None
    assert not User.objects.exists()
    sign_in = EmailSignIn.objects.get()
    assert sign_in.finished_at is None and sign_in.failed_attempts == 0

    # Both the code and the link still work after the scanner's visits.
    response = client.post("/accounts/login/code/confirm/", {"code": sent.code})
    assert response.status_code == 302 and signed_in_user(client).email == "scanned@example.com"


def test_next_is_kept_through_the_link(client):
    client.post("/accounts/login/?next=/accounts/", {"email": "linknext@example.com"})
    response = Client().post(last_sign_in_email().path)
    assert response["Location"] == "/accounts/"


# --- single use, expiry, attempts ---------------------------------------------------------


def test_a_used_link_fails_and_so_does_its_code(client):
    request_sign_in(client, "once@example.com")
    sent = last_sign_in_email()
    assert Client().post(sent.path).status_code == 302

    again = Client()
    for method in (again.get, again.post):
        response = method(sent.path)
        assert response.status_code == 410
        assert "already used" in response.content.decode()
        assert signed_in_user(again) is None

    response = client.post("/accounts/login/code/confirm/", {"code": sent.code}, follow=True)
    assert signed_in_user(client) is None
    assert "already used" in response.content.decode()


def test_a_used_code_fails_and_so_does_its_link(client):
    request_sign_in(client, "code-once@example.com")
    sent = last_sign_in_email()
    client.post("/accounts/login/code/confirm/", {"code": sent.code})
    assert signed_in_user(client) is not None
    client.post("/accounts/logout/")
    assert signed_in_user(client) is None

    response = client.post("/accounts/login/code/confirm/", {"code": sent.code})
    assert response["Location"] == "/accounts/login/"
    assert signed_in_user(client) is None
    other = Client()
    assert other.post(sent.path).status_code == 410
    assert signed_in_user(other) is None


def test_an_expired_code_and_link_fail(client):
    request_sign_in(client, "late@example.com")
    sent = last_sign_in_email()
    EmailSignIn.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.post("/accounts/login/code/confirm/", {"code": sent.code}, follow=True)
    assert signed_in_user(client) is None
    assert "expired" in response.content.decode()

    other = Client()
    response = other.post(sent.path)
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert signed_in_user(other) is None
    assert not User.objects.exists()


def test_expiry_is_allauths_login_by_code_timeout(client):
    before = timezone.now()
    request_sign_in(client, "timeout@example.com")
    sign_in = EmailSignIn.objects.get()
    assert timedelta(minutes=15) <= sign_in.expires_at - before < timedelta(minutes=15, seconds=30)
    assert "15 minutes" in last_sign_in_email().text


def test_an_unknown_link_fails(client):
    response = client.get("/accounts/login/link/not-a-real-token/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_wrong_codes_run_out_and_end_code_and_link(client):
    request_sign_in(client, "guesser@example.com")
    sent = last_sign_in_email()
    wrong = "BBBB-BBBB" if sent.code != "BBBB-BBBB" else "CCCC-CCCC"

    response = client.post("/accounts/login/code/confirm/", {"code": wrong})
    assert response.status_code == 200 and "2 tries left" in response.content.decode()
    response = client.post("/accounts/login/code/confirm/", {"code": wrong})
    assert response.status_code == 200 and "1 try left" in response.content.decode()
    response = client.post("/accounts/login/code/confirm/", {"code": wrong}, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Too many" in response.content.decode()

    # The right code no longer helps, and neither does the link.
    client.post("/accounts/login/code/confirm/", {"code": sent.code})
    assert signed_in_user(client) is None
    assert Client().post(sent.path).status_code == 410
    assert EmailSignIn.objects.get().outcome == EmailSignIn.Outcome.TOO_MANY_ATTEMPTS
    assert not User.objects.exists()


def test_one_wrong_code_then_the_right_one_signs_in(client):
    request_sign_in(client, "typo@example.com")
    sent = last_sign_in_email()
    client.post("/accounts/login/code/confirm/", {"code": "DDDD-DDDD" if sent.code != "DDDD-DDDD" else "FFFF-FFFF"})
    client.post("/accounts/login/code/confirm/", {"code": sent.code})
    assert signed_in_user(client).email == "typo@example.com"


# --- known and unknown look alike ----------------------------------------------------------


def _normalised(client, email):
    mail.outbox.clear()
    response = request_sign_in(client, email)
    sent = last_sign_in_email()
    page = client.get(response["Location"])

    def scrub(text):
        text = text.replace(sent.code, "CODE").replace(sent.link, "LINK").replace(email, "EMAIL")
        # The expiry time shown on the page moves with the clock; CSRF tokens are random.
        text = re.sub(r"until \d\d:\d\d \([^)]*\)", "until TIME", text)
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", text)

    return (
        response.status_code,
        response["Location"],
        scrub(sent.subject),
        scrub(sent.text),
        scrub(sent.html),
        page.status_code,
        scrub(page.content.decode()),
    )


def test_known_and_unknown_emails_look_the_same(returning_user):
    known = _normalised(Client(), "ada@example.com")
    unknown = _normalised(Client(), "nobody@example.com")
    assert known == unknown
    assert "CODE" in known[2] and "LINK" in known[3] and "CODE" in known[4]


# --- rate limits and new codes -------------------------------------------------------------


def test_asking_for_a_new_code_works_and_ends_the_previous_one(client):
    request_sign_in(client, "again@example.com")
    first = last_sign_in_email()
    response = client.post("/accounts/login/code/confirm/", {"action": "resend"}, follow=True)
    assert response.status_code == 200
    assert "We sent an email to again@example.com" in response.content.decode()
    second = last_sign_in_email()
    assert len(mail.outbox) == 2 and second.token != first.token

    assert Client().post(first.path).status_code == 410
    client.post("/accounts/login/code/confirm/", {"code": second.code})
    assert signed_in_user(client).email == "again@example.com"


def test_rate_limit_on_asking_says_so_clearly(client):
    # ACCOUNT_RATE_LIMITS: request_login_code 3/m per address.
    for _ in range(3):
        assert request_sign_in(client, "busy@example.com").status_code == 302
    response = request_sign_in(client, "busy@example.com")
    assert response.status_code == 200
    assert "Too many sign-in emails were asked for" in response.content.decode()
    assert len(mail.outbox) == 3


def test_new_code_within_the_rate_limit_then_a_clear_message(client):
    request_sign_in(client, "resender@example.com")
    for _ in range(2):
        client.post("/accounts/login/code/confirm/", {"action": "resend"})
    assert len(mail.outbox) == 3
    response = client.post("/accounts/login/code/confirm/", {"action": "resend"}, follow=True)
    assert len(mail.outbox) == 3
    assert "Too many sign-in emails were asked for" in response.content.decode()
    # The last code sent still works.
    client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email().code})
    assert signed_in_user(client).email == "resender@example.com"


def test_rate_limit_per_ip_across_addresses(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "request_login_code": "2/m/ip,3/m/key"}
    assert request_sign_in(client, "a@example.com").status_code == 302
    assert request_sign_in(client, "b@example.com").status_code == 302
    response = request_sign_in(client, "c@example.com")
    assert response.status_code == 200 and "Too many" in response.content.decode()


# --- other ways in are closed ---------------------------------------------------------------


def test_the_sign_in_page_has_one_email_field_telegram_and_no_password(client):
    page = client.get("/accounts/login/")
    body = page.content.decode()
    assert page.status_code == 200
    assert 'type="email"' in body and 'type="password"' not in body
    assert "With Telegram" in body
    assert body.count("<form") == 1


@pytest.mark.parametrize(
    "path",
    ["/accounts/signup/", "/accounts/login/code/", "/accounts/signup/?next=/accounts/"],
)
def test_signup_and_allauths_code_request_lead_to_the_sign_in_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    if "next=" in path:
        assert response["Location"] == "/accounts/login/?next=%2Faccounts%2F"


@pytest.mark.parametrize(
    "path", ["/accounts/password/change/", "/accounts/password/set/", "/accounts/password/reset/", "/accounts/password/reset/done/"]
)
def test_there_are_no_password_pages(client, path, returning_user):
    assert client.get(path)["Location"] == "/accounts/login/"
    client.force_login(returning_user)
    response = client.get(path)
    assert response.status_code == 302 and response["Location"] == "/accounts/"


def test_signed_in_people_skip_the_sign_in_page(client, returning_user):
    client.force_login(returning_user)
    assert client.get("/accounts/login/")["Location"] == "/"


def test_inactive_account_is_not_signed_in(client, returning_user):
    returning_user.is_active = False
    returning_user.save()
    request_sign_in(client, "ada@example.com")
    response = client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email().code})
    assert response["Location"] == "/accounts/inactive/"
    assert signed_in_user(client) is None
    assert User.objects.count() == 1


# --- races and housekeeping ------------------------------------------------------------------


def test_code_and_link_at_the_same_moment_only_one_wins(client, rf):
    from django.contrib.sessions.backends.db import SessionStore

    from project.accounts.flows.email_sign_in import EmailSignInProcess, SignInUnavailable

    request_sign_in(client, "race@example.com")
    request = rf.post("/")
    request.session = SessionStore()
    # Two requests that both loaded the row while it was still pending.
    by_link = EmailSignInProcess(request, EmailSignIn.objects.get())
    by_code = EmailSignInProcess(request, EmailSignIn.objects.get())
    by_link.check_usable()
    by_code.check_usable()
    assert by_link.end(EmailSignIn.Outcome.SIGNED_IN_BY_LINK) is True
    with pytest.raises(SignInUnavailable) as refused:
        by_code.finish(EmailSignIn.Outcome.SIGNED_IN_BY_CODE)
    assert refused.value.reason == "used"
    assert not User.objects.exists()
    assert EmailSignIn.objects.get().outcome == EmailSignIn.Outcome.SIGNED_IN_BY_LINK


def test_a_burst_of_parallel_guesses_gets_no_more_than_three_comparisons(client, rf):
    """Requests that all loaded the sign-in before any guess was counted (a burst of parallel
    guesses) still get three comparisons between them, and the right code after them fails."""
    from django.contrib.sessions.backends.db import SessionStore

    from project.accounts.flows.email_sign_in import EmailSignInProcess, SignInUnavailable, WrongCode

    request_sign_in(client, "burst@example.com")
    sent = last_sign_in_email()
    request = rf.post("/")
    request.session = SessionStore()
    loaded = [EmailSignInProcess(request, EmailSignIn.objects.get()) for _ in range(8)]
    outcomes = []
    for n, process in enumerate(loaded[:-1]):
        wrong = f"BBBB-BBB{'CDFGHJK'[n]}"
        assert wrong != sent.code
        try:
            process.confirm_code(wrong)
        except WrongCode:
            outcomes.append("wrong")
        except SignInUnavailable as exc:
            outcomes.append(exc.reason)
    assert outcomes == ["wrong", "wrong"] + ["too_many_attempts"] * 5
    assert EmailSignIn.objects.get().failed_attempts == 3  # only three codes were ever compared
    with pytest.raises(SignInUnavailable):
        loaded[-1].confirm_code(sent.code)
    assert not User.objects.exists()


def test_only_hashes_are_stored(client):
    request_sign_in(client, "hashes@example.com")
    sent = last_sign_in_email()
    sign_in = EmailSignIn.objects.get()
    stored = " ".join(str(value) for value in EmailSignIn.objects.values().get().values())
    assert sent.code not in stored and sent.code.replace("-", "") not in stored
    assert sent.token not in stored
    assert len(sign_in.code_hash) == 64 and len(sign_in.token_hash) == 64


def test_prune_deletes_long_expired_sign_ins(client):
    from django.core.management import call_command

    request_sign_in(client, "old@example.com")
    request_sign_in(client, "recent@example.com")
    EmailSignIn.objects.filter(email="old@example.com").update(expires_at=timezone.now() - timedelta(days=8))
    call_command("prune_email_sign_ins")
    assert list(EmailSignIn.objects.values_list("email", flat=True)) == ["recent@example.com"]
