"""Thin views: the legacy sign-in's login and callback, the OIDC flow's login and callback, disconnect,
and one tap from Telegram (login_url buttons, the Mini App)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.telegram import views as telegram_views
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView

from project.telegram_accounts import conf
from project.telegram_accounts.flows import disconnect, legacy_callback, login_url, mini_app, one_tap
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


# --- one tap from Telegram ------------------------------------------------------------------


@login_not_required
@require_GET
def login_url_view(request: HttpRequest):
    """Where a login_url button lands, with Telegram's signed fields in the query."""
    return login_url.complete(request)


@login_not_required
@require_http_methods(["GET", "POST"])
def one_tap_choice_view(request: HttpRequest):
    """GET: what to do with a checked Telegram identity (switch, connect, create). POST: do it."""
    if request.method == "POST":
        try:
            return one_tap.resolve(request, request.POST.get("action", ""))
        except one_tap.ChoiceRefused:
            return HttpResponseBadRequest("Unknown choice.")
    waiting = one_tap.pending(request)
    if waiting is None:
        messages.error(request, "That sign-in from Telegram has expired. Please press the button in Telegram again.")
        return redirect("account_login")
    return render(request, "telegram_accounts/one_tap_choice.html", one_tap.choice(request, waiting))


@login_not_required
@require_http_methods(["GET", "POST"])
def mini_app_view(request: HttpRequest):
    """GET: the page the bot's menu button opens; its script posts the launch data. POST: check it."""
    if request.method == "POST":
        return mini_app.launch(request)
    # The form carries how this page was opened (by Telegram or not) to the launch's POST.
    response = render(request, "telegram_accounts/mini_app.html", {"opened": mini_app.opened_token(request)})
    response.telegram_mini_app = True  # Telegram Web may frame it
    return response


@login_not_required
@require_GET
def mini_app_theme_view(request: HttpRequest):
    """Telegram's colours for pages shown inside it (from the session; empty elsewhere)."""
    response = HttpResponse(mini_app.theme_css(one_tap.in_telegram(request) or {}), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "private, max-age=86400"
    return response
