from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/<int:pk>/read/", views.mark_read, name="mark_read"),
    path("notifications/read-all/", views.mark_all_read, name="mark_all_read"),
    path("notifications/reconnect-telegram/", views.reconnect_telegram, name="reconnect"),
    path("settings/notifications/", views.settings_page, name="settings"),
]
