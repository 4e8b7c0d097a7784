from django.apps import AppConfig


class TelegramAccountsConfig(AppConfig):
    name = "project.telegram_accounts"
    label = "telegram_accounts"
    verbose_name = "Telegram accounts"
