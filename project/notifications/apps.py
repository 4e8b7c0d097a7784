from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "project.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from project.core import notices

        from .notices import telegram_unreachable_notice

        notices.register(telegram_unreachable_notice)

        # Security notices (sign-ins by a new way, email changes) listen to auth and allauth.
        from project.accounts.flows import security_notices

        security_notices.connect_signals()
