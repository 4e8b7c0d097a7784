from django.apps import AppConfig


class TelegramAccountsConfig(AppConfig):
    name = "project.telegram_accounts"
    label = "telegram_accounts"
    verbose_name = "Telegram accounts"

    def ready(self):
        from django.apps import apps

        from project.telegram_accounts import checks  # noqa: F401  (registers the start-up check)

        # allauth's social accounts send these signals; the webhook function does not install
        # them (settings.WEBHOOK_APPS), so it need not import the linking flows to listen.
        if apps.is_installed("allauth.socialaccount"):
            from project.telegram_accounts.signals import connect_signals

            connect_signals()
