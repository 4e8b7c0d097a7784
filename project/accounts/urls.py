from django.urls import path

from project.accounts import views

urlpatterns = [
    path("", views.account, name="account"),
]
