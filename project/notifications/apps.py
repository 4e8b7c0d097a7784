from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "project.notifications"
    label = "notifications"
    verbose_name = "Notifications"
