"""
Site-specific allauth behaviour for Telegram sign-in.

- Apps: allauth gets the two Telegram apps (legacy and OIDC) from here, built from settings
  on each call, never from SOCIALACCOUNT_PROVIDERS at import time. Neither carries a secret;
  the legacy callback reads the bot token and the OIDC adapter the client secret when they
  verify something, so a container reads Secrets Manager only when first needed.
- One Telegram account = one site account across both flows: a sign-in through one flow by a
  Telegram user who came through the other lands in the same account (the second provider's
  SocialAccount is attached to it), and TelegramAccount is kept in sync.
- Refusals are logged with their real reason; the page says something clear.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialApp
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.telegram.provider import TelegramProvider

from project.telegram_accounts import conf
from project.telegram_accounts.flows import linking
from project.telegram_accounts.flows.legacy_login import LoginRefused
from project.telegram_accounts.providers import IdTokenRefused, TelegramLegacyProvider

logger = logging.getLogger("project.telegram_accounts.login")

FLOW_NAMES = {conf.LEGACY_PROVIDER_ID: "legacy", conf.OIDC_PROVIDER_ID: "oidc"}


def telegram_apps() -> list[SocialApp]:
    """The allauth apps of the flows this stage offers (unsaved, without secrets)."""
    apps = []
    flows = conf.login_flows()
    client_id = str(conf.bot_id())
    if "legacy" in flows:
        apps.append(
            SocialApp(provider=TelegramProvider.id, provider_id=conf.LEGACY_PROVIDER_ID, name="Telegram", client_id=client_id)
        )
    if "oidc" in flows:
        apps.append(
            SocialApp(
                provider="openid_connect",
                provider_id=conf.OIDC_PROVIDER_ID,
                name="Telegram",
                client_id=client_id,
                settings={
                    "server_url": conf.oauth_base_url(),
                    "oauth_pkce_enabled": True,
                    "scope": list(conf.OIDC_SCOPES),
                    # The Telegram user id; `sub` is an opaque per-bot value.
                    "uid_field": "id",
                    # Telegram has no UserInfo endpoint; everything is in the ID token.
                    "fetch_userinfo": False,
                    "token_auth_method": "client_secret_basic",
                },
            )
        )
    return apps


def _is_telegram(provider_id: str) -> bool:
    return provider_id in conf.PROVIDER_IDS


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    # --- apps and providers -----------------------------------------------------------------

    def list_apps(self, request, provider=None, client_id=None):
        apps = []
        for app in telegram_apps():
            if provider and provider not in (app.provider, app.provider_id):
                continue
            if client_id and app.client_id != client_id:
                continue
            apps.append(app)
        return apps

    def _ours(self, provider):
        if isinstance(provider, TelegramProvider) and not isinstance(provider, TelegramLegacyProvider):
            return TelegramLegacyProvider(provider.request, app=provider.app)
        return provider

    def get_provider(self, request, provider, client_id=None):
        return self._ours(super().get_provider(request, provider, client_id=client_id))

    def list_providers(self, request):
        return [self._ours(p) for p in super().list_providers(request)]

    # --- one Telegram account = one site account -------------------------------------------

    def pre_social_login(self, request, sociallogin):
        provider_id = sociallogin.account.provider
        if not _is_telegram(provider_id):
            return
        telegram_user = linking.telegram_user_from_login_data(provider_id, sociallogin.account.extra_data)
        telegram_id = telegram_user["id"]
        flow = FLOW_NAMES[provider_id]
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            if request.user.is_authenticated:
                try:
                    linking.check_can_link(request.user, telegram_id)
                except linking.LinkRefused as exc:
                    logger.warning(
                        "telegram %s connect refused for user %s: %s (telegram id %s)",
                        flow, request.user.pk, exc.reason, telegram_id,
                    )
                    messages.error(request, exc.message)
                    raise ImmediateHttpResponse(HttpResponseRedirect(self._account_url(sociallogin, request)))
            return
        existing = linking.account_for(telegram_id)
        if sociallogin.is_existing:
            if existing is not None and existing.user_id != sociallogin.user.pk:
                # allauth's row and ours disagree; ours is the canonical link.
                logger.error(
                    "telegram %s login refused: telegram id %s is linked to user %s but its %s "
                    "social account to user %s",
                    flow, telegram_id, existing.user_id, provider_id, sociallogin.user.pk,
                )
                raise ImmediateHttpResponse(self._refusal_page(request, "This Telegram account is linked inconsistently. Please contact support."))
            linking.link(sociallogin.user, telegram_user)
        elif existing is not None:
            # First sign-in through this flow by someone who came through the other flow (or
            # connected through the bot): same person, same account.
            self._attach(request, sociallogin, existing.user)
            logger.info("telegram %s login: telegram id %s joined existing user %s", flow, telegram_id, existing.user_id)

    def save_user(self, request, sociallogin, form=None):
        """A new account from a Telegram sign-in: no email (Telegram has none), linked at once.

        A new Telegram user who signs in from several tabs at once sends several of these at
        the same moment. The account, its SocialAccount and its TelegramAccount are made in
        one transaction, and the unique constraints (one SocialAccount per provider and
        Telegram id, one TelegramAccount per Telegram id, one username) let exactly one tab
        make them. The others roll back everything they made (no orphan account) and sign in
        to the account that tab made.
        """
        provider_id = sociallogin.account.provider
        if not _is_telegram(provider_id):
            return super().save_user(request, sociallogin, form=form)
        telegram_user = linking.telegram_user_from_login_data(provider_id, sociallogin.account.extra_data)
        try:
            with transaction.atomic():
                user = super().save_user(request, sociallogin, form=form)
                linking.link(user, telegram_user)
        except (IntegrityError, linking.LinkRefused):
            winner = linking.account_for(telegram_user["id"])
            if winner is None:
                raise
            raise ImmediateHttpResponse(self._join_parallel_sign_up(request, sociallogin, winner.user)) from None
        return user

    def _join_parallel_sign_up(self, request, sociallogin, user):
        """Sign this tab in to the account another tab has just made for the same Telegram user."""
        from allauth.socialaccount.internal.flows.login import _login

        self._attach(request, sociallogin, user)
        logger.info(
            "telegram %s login: telegram id %s joined user %s made by a parallel sign-in",
            FLOW_NAMES[sociallogin.account.provider], sociallogin.account.uid, user.pk,
        )
        # allauth's own path for signing in to an existing account.
        return _login(request, sociallogin)

    def _attach(self, request, sociallogin, user) -> None:
        """Make this sign-in's SocialAccount belong to `user` (allauth's `connect`, safe when
        another request of the same person makes the same row at the same moment: the
        unique (provider, uid) constraint decides and the loser takes the winner's row)."""
        account = sociallogin.account
        existing = SocialAccount.objects.filter(provider=account.provider, uid=account.uid).first()
        if existing is None:
            account.pk = None  # a row rolled back with a lost sign-up, if any, is gone
            account._state.adding = True
            account.user = user
            try:
                with transaction.atomic():
                    account.save()
            except IntegrityError:
                existing = SocialAccount.objects.get(provider=account.provider, uid=account.uid)
        if existing is not None:
            if existing.user_id != user.pk:
                logger.error(
                    "telegram %s login refused: telegram id %s is linked to user %s but its %s social account to user %s",
                    FLOW_NAMES[account.provider], account.uid, user.pk, account.provider, existing.user_id,
                )
                raise ImmediateHttpResponse(
                    self._refusal_page(request, "This Telegram account is linked inconsistently. Please contact support.")
                )
            existing.extra_data = account.extra_data
            existing.save(update_fields=["extra_data", "last_login"])
            sociallogin.account = existing
        sociallogin.user = user

    def get_connect_redirect_url(self, request, socialaccount):
        return reverse("account")

    def _account_url(self, sociallogin, request) -> str:
        return sociallogin.get_redirect_url(request) or reverse("account")

    # --- refusals ---------------------------------------------------------------------------

    def on_authentication_error(self, request, provider, error=None, exception=None, extra_context=None):
        provider_id = getattr(getattr(provider, "app", None), "provider_id", None) or getattr(provider, "id", "?")
        flow = FLOW_NAMES.get(provider_id, provider_id)
        reason = self._refusal_reason(request, error, exception, extra_context or {})
        logger.warning("telegram %s login refused: %s", flow, reason)
        if extra_context is not None:
            public = getattr(exception, "public", "") or "Telegram could not confirm who you are."
            extra_context.setdefault("telegram_refusal", public)
        super().on_authentication_error(request, provider, error=error, exception=exception, extra_context=extra_context)

    @staticmethod
    def _refusal_reason(request, error, exception, extra_context) -> str:
        if isinstance(exception, (LoginRefused, IdTokenRefused)):
            return str(exception)
        if exception is not None:
            return f"{type(exception).__name__}: {exception}"
        if "error" in request.GET:
            description = request.GET.get("error_description", "")
            return f"telegram answered error {request.GET['error']!r}" + (f" ({description})" if description else "")
        if "state_id" in extra_context:
            if not extra_context.get("state_id"):
                return "missing state"
            return "unknown, expired or already used state"
        if "code" not in request.GET:
            return "no authorization code"
        return str(error or "unknown")

    def _refusal_page(self, request, public: str):
        from django.shortcuts import render

        return render(request, "socialaccount/authentication_error.html", {"telegram_refusal": public}, status=400)
