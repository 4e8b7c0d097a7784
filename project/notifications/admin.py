from django.contrib import admin

from .models import Delivery, Notification, NotificationPreference, NotificationSettings


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    fields = ("channel", "method", "status", "attempts", "provider_message_id", "last_error", "sent_at")
    readonly_fields = fields
    can_delete = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "created_at", "read_at")
    list_filter = ("kind",)
    search_fields = ("text", "user__email", "user__username")
    raw_id_fields = ("user",)
    inlines = [DeliveryInline]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "channel", "method", "chat_id", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "channel", "method")
    search_fields = ("chat_id", "address", "last_error")
    raw_id_fields = ("notification", "user")
    readonly_fields = ("claimed_at", "claim_token", "enqueued_at", "updated_at")


admin.site.register(NotificationPreference)
admin.site.register(NotificationSettings)
