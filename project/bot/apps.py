from django.apps import AppConfig


class BotConfig(AppConfig):
    name = "project.bot"
    label = "bot"
    verbose_name = "Telegram bot and support inbox"
