import json

from django.contrib import admin
from django.utils.html import format_html

from project.bot.models import Conversation, StoredUpdate, SupportMessage
from project.core.logging import redact


@admin.register(StoredUpdate)
class StoredUpdateAdmin(admin.ModelAdmin):
    list_display = ("update_id", "kind", "status", "attempts", "received_at", "error")
    list_filter = ("status", "kind")
    search_fields = ("update_id",)
    fields = ("update_id", "kind", "status", "error", "stored_payload", "received_at", "handled_at", "attempts")
    readonly_fields = ("update_id", "kind", "stored_payload", "received_at", "handled_at", "attempts")

    @admin.display(description="payload")
    def stored_payload(self, obj):
        # Stored without live /start tokens already (updates.for_storage); shown through the
        # log redaction too, for rows stored before that and for tokens a person pasted.
        return format_html("<pre>{}</pre>", redact(json.dumps(obj.payload, indent=2, ensure_ascii=False)))


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
