from django.urls import path

from project.bot import views

app_name = "bot"
urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/", views.conversation, name="conversation"),
    path("inbox/<int:pk>/reply/", views.reply, name="reply"),
    path("inbox/<int:pk>/update/", views.update_conversation, name="update_conversation"),
]
