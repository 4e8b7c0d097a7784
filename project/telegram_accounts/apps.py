from django.apps import AppConfig


class TelegramAccountsConfig(AppConfig):
    name = "project.telegram_accounts"
    label = "telegram_accounts"
    verbose_name = "Telegram accounts"

    def ready(self):
        from django.apps import apps
        from django.contrib.auth.signals import user_logged_in

        from project.telegram_accounts import checks  # noqa: F401  (registers the start-up check)

        # Every sign-in, by any method, makes this browser known to the account (one tap later).
        # Only where people sign in (sessions): not in the webhook function's cold start.
        if apps.is_installed("django.contrib.sessions"):
            from project.telegram_accounts.flows import known_browser

            user_logged_in.connect(known_browser.note_sign_in, dispatch_uid="telegram_accounts.known_browser")

        # allauth's social accounts send these signals; the webhook function does not install
        # them (settings.WEBHOOK_APPS), so it need not import the linking flows to listen.
        if apps.is_installed("allauth.socialaccount"):
            from project.telegram_accounts.signals import connect_signals

            connect_signals()
