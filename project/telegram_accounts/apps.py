from django.apps import AppConfig


class TelegramAccountsConfig(AppConfig):
    name = "project.telegram_accounts"
    label = "telegram_accounts"
    verbose_name = "Telegram accounts"

    def ready(self):
        from project.telegram_accounts import checks  # noqa: F401  (registers the start-up check)
        from project.telegram_accounts.signals import connect_signals

        connect_signals()
