from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "project.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from project.core import logging as secret_logging

        secret_logging.install()
