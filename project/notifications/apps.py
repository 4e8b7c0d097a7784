from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "project.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from project.core import notices

        from .notices import telegram_unreachable_notice

        notices.register(telegram_unreachable_notice)
