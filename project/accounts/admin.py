from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from project.accounts.models import User

admin.site.register(User, UserAdmin)
