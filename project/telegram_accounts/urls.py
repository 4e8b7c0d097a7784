from django.urls import path  # noqa: F401

app_name = "telegram_accounts"
urlpatterns: list = []
