from django.contrib import admin

from project.bot.models import Conversation, StoredUpdate, SupportMessage


@admin.register(StoredUpdate)
class StoredUpdateAdmin(admin.ModelAdmin):
    list_display = ("update_id", "kind", "status", "attempts", "received_at", "error")
    list_filter = ("status", "kind")
    search_fields = ("update_id",)
    readonly_fields = ("update_id", "kind", "payload", "received_at", "handled_at", "attempts")


class SupportMessageInline(admin.TabularInline):
    model = SupportMessage
    fields = ("created_at", "direction", "kind", "text", "caption", "author", "delivery")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "telegram_id", "user", "status", "assignee", "last_message_at")
    list_filter = ("status",)
    search_fields = ("telegram_id", "username", "first_name", "last_name")
    raw_id_fields = ("user", "assignee")
    inlines = [SupportMessageInline]
