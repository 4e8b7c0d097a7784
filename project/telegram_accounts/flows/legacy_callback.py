"""
Completing the legacy sign-in: the POST our callback page makes from `#tgAuthResult`.

Replaces allauth's telegram CallbackView (same URL) to check the stage's own bot token from
project.core.secrets, to refuse a missing, unknown or replayed `state`, to refuse signed data
that was already used (the data is not bound to our state, so a captured result could
otherwise be posted from another session's fresh flow within its 30 seconds), and to log the
real reason of every refusal.
"""

from __future__ import annotations

from allauth.socialaccount.helpers import complete_social_login, render_authentication_error
from allauth.socialaccount.providers.base.constants import AuthError
from django.core.exceptions import PermissionDenied

from project.core import secrets
from project.telegram_accounts import conf
from project.telegram_accounts.flows import legacy_login, signed_once
from project.telegram_accounts.flows.legacy_login import LoginRefused


def complete(request, provider, state_id: str | None, raw_result: str):
    """The response to the callback's POST: signed in (or connected), or a refusal page."""
    try:
        if not state_id:
            raise LoginRefused("missing state")
        data = legacy_login.decode_auth_result(raw_result)
        fields = legacy_login.verify(data, bot_token=secrets.bot_token(), max_age=conf.auth_date_validity())
        try:
            # Pops the state from the session: a second POST with the same state fails here.
            state = provider.unstash_redirect_state(request, state_id)
        except PermissionDenied:
            raise LoginRefused("unknown, expired or already used state") from None
        # Each signed result signs in once (shared with login_url buttons: see signed_once).
        if not signed_once.claim(signed_once.LOGIN_RESULTS, data["hash"], conf.auth_date_validity()):
            raise LoginRefused("signed login data already used (replayed from another session)")
    except LoginRefused as exc:
        error = AuthError.CANCELLED if exc.reason == "cancelled by the user" else AuthError.UNKNOWN
        return render_authentication_error(request, provider, error=error, exception=exc)
    fields.pop("auth_date", None)
    login = provider.sociallogin_from_response(request, fields)
    login.state = state
    return complete_social_login(request, login)
