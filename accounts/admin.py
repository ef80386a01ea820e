"""The security log in the admin (read-only), and the admin site's two-step check."""

from django.contrib import admin

from .models import SecurityEvent


class CaseworksAdminSite(admin.AdminSite):
    """The default admin site, refusing anyone who still owes a two-step code.

    MFARequiredMiddleware already redirects such a user; this keeps the admin closed if the
    middleware is ever left out."""

    def has_permission(self, request):
        from .mfa import mfa_pending

        return super().has_permission(request) and not mfa_pending(request)


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """Append-only: staff with the view permission read it; nobody adds, edits or deletes."""

    list_display = ("created_at", "kind", "username", "ip", "path", "request_id")
    list_filter = ("kind",)
    search_fields = ("username", "ip", "path", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("user",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
