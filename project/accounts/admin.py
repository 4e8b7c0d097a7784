from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from project.accounts.models import User


@admin.register(User)
class PasswordlessUserAdmin(UserAdmin):
    """Django's user admin without passwords: nobody has one (they would sign no one in,
    project/accounts/models.py), so there is no field, form or page to set one. New staff
    come from `manage.py make_staff EMAIL`; everyone else signs up by signing in."""

    fieldsets = ((None, {"fields": ("username",)}),) + UserAdmin.fieldsets[1:]

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        # UserAdmin's "<id>/password/" page sets a password: leave it out.
        # (Django names it "auth_user_password_change" whatever the user model.)
        return [url for url in super().get_urls() if url.name != "auth_user_password_change"]


from project.accounts.models import EmailSignIn  # noqa: E402


@admin.register(EmailSignIn)
class EmailSignInAdmin(admin.ModelAdmin):
    """Read-only: for looking into "my code did not work". Hashes are shown, never codes."""

    list_display = ("email", "created_at", "expires_at", "failed_attempts", "outcome", "user")
    list_filter = ("outcome",)
    search_fields = ("email",)
    readonly_fields = [f.name for f in EmailSignIn._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
