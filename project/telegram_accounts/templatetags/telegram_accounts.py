"""Template tags for the sign-in buttons and the account page's Telegram section."""

from __future__ import annotations

from django import template

from project.telegram_accounts import conf

register = template.Library()

_LABELS = {
    "legacy": "Continue with Telegram (classic sign-in)",
    "oidc": "Continue with Telegram",
}


@register.simple_tag
def telegram_login_providers() -> list[dict]:
    """The Telegram flows this stage offers: [{flow, provider_id, label, primary}], first is primary."""
    flows = conf.login_flows()
    result = []
    for index, flow in enumerate(flows):
        # With one flow on offer its button is simply "Continue with Telegram".
        label = "Continue with Telegram" if len(flows) == 1 else _LABELS[flow]
        result.append(
            {"flow": flow, "provider_id": conf.FLOW_PROVIDER_IDS[flow], "label": label, "primary": index == 0}
        )
    return result


@register.simple_tag
def telegram_start_link(user) -> str:
    """A fresh t.me/<bot>?start=<token> link for a signed-in user ("" for anyone else)."""
    if not getattr(user, "is_authenticated", False):
        return ""
    from project.telegram_accounts.flows.connect_via_bot import start_link

    return start_link(user)


@register.simple_tag
def telegram_account_of(user):
    """The user's TelegramAccount, or None (without raising for users who have none)."""
    if not getattr(user, "is_authenticated", False):
        return None
    from project.telegram_accounts.models import TelegramAccount

    return TelegramAccount.objects.filter(user_id=user.pk).first()


@register.simple_tag
def telegram_can_disconnect(user) -> bool:
    """Whether the user has another way in (a verified email) besides Telegram."""
    if not getattr(user, "is_authenticated", False):
        return False
    from project.telegram_accounts.flows.disconnect import has_other_way_in

    return has_other_way_in(user)
