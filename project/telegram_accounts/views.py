"""Thin views: the legacy sign-in's login and callback, the OIDC flow's login and callback, disconnect."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.telegram import views as telegram_views
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView

from project.telegram_accounts import conf
from project.telegram_accounts.flows import disconnect, legacy_callback
from project.telegram_accounts.providers import TelegramOIDCAdapter


def _provider_or_404(request, provider_id: str):
    try:
        return get_adapter().get_provider(request, provider_id)
    except SocialApp.DoesNotExist:
        raise Http404("This Telegram sign-in is not offered here.") from None


@login_not_required
def legacy_login_view(request: HttpRequest):
    """allauth's legacy login view, answering 404 when this stage does not offer the flow."""
    _provider_or_404(request, conf.LEGACY_PROVIDER_ID)
    return telegram_views.login(request)


@login_not_required
def legacy_callback_view(request: HttpRequest):
    """GET: a page whose script posts the `#tgAuthResult` fragment back here. POST: check it."""
    provider = _provider_or_404(request, conf.LEGACY_PROVIDER_ID)
    if request.method == "POST":
        return legacy_callback.complete(
            request, provider, request.GET.get("state"), request.POST.get("tgAuthResult", "")
        )
    return render(request, "telegram_accounts/legacy_callback.html", {"state": request.GET.get("state", "")})


@login_not_required
def oidc_login_view(request: HttpRequest):
    try:
        return OAuth2LoginView.adapter_view(TelegramOIDCAdapter(request))(request)
    except SocialApp.DoesNotExist:
        raise Http404("This Telegram sign-in is not offered here.") from None


@login_not_required
def oidc_callback_view(request: HttpRequest):
    try:
        return OAuth2CallbackView.adapter_view(TelegramOIDCAdapter(request))(request)
    except SocialApp.DoesNotExist:
        raise Http404("This Telegram sign-in is not offered here.") from None


@login_required
@require_POST
def disconnect_view(request: HttpRequest):
    try:
        telegram_id = disconnect.disconnect_telegram(request.user)
    except disconnect.CannotDisconnect as exc:
        messages.error(request, exc.message)
    else:
        if telegram_id is None:
            messages.info(request, "No Telegram account was connected.")
        else:
            messages.success(request, "Telegram is disconnected. You can connect it again at any time.")
    return redirect("account")
