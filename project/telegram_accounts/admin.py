from django.contrib import admin

from project.telegram_accounts.models import StartToken, TelegramAccount


@admin.register(TelegramAccount)
class TelegramAccountAdmin(admin.ModelAdmin):
    list_display = ("telegram_id", "username", "first_name", "last_name", "user", "reachable", "linked_at")
    list_filter = ("reachable",)
    search_fields = ("telegram_id", "username", "first_name", "last_name", "user__email", "user__username")
    raw_id_fields = ("user",)
    readonly_fields = ("linked_at", "updated_at", "blocked_at")


@admin.register(StartToken)
class StartTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "expires_at", "used_at", "used_by_telegram_id")
    raw_id_fields = ("user",)
    # Only a hash is stored; nothing here can be used to connect an account.
    readonly_fields = ("token_hash", "created_at", "expires_at", "used_at", "used_by_telegram_id")
