"""Keep TelegramAccount in step with allauth's SocialAccounts when allauth adds or refreshes one."""

from __future__ import annotations

from allauth.socialaccount.signals import social_account_added, social_account_updated

from project.telegram_accounts import conf
from project.telegram_accounts.flows import linking


def _sync(sender, request, sociallogin, **kwargs):
    account = sociallogin.account
    if account.provider not in conf.PROVIDER_IDS or sociallogin.user is None or sociallogin.user.pk is None:
        return
    linking.link(sociallogin.user, linking.telegram_user_from_login_data(account.provider, account.extra_data))


def connect_signals() -> None:
    social_account_added.connect(_sync, dispatch_uid="telegram_accounts.sync_added")
    social_account_updated.connect(_sync, dispatch_uid="telegram_accounts.sync_updated")
