from django.apps import AppConfig


class MeetupsConfig(AppConfig):
    name = "project.meetups"
    label = "meetups"
    verbose_name = "Meetups"
