from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from project.accounts.models import User

admin.site.register(User, UserAdmin)


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
