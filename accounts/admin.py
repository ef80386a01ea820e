"""The security log in the admin (read-only), and the admin site's two-step check."""

from django.contrib import admin

from casesite.admin import ReadOnlyAdmin

from .models import SecurityEvent


class CaseworksAdminSite(admin.AdminSite):
    """The default admin site, refusing anyone who still owes a two-step code.

    MFARequiredMiddleware already redirects such a user; this keeps the admin closed if the
    middleware is ever left out."""

    def has_permission(self, request):
        from .mfa import mfa_pending

        return super().has_permission(request) and not mfa_pending(request)


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """Append-only: staff with the view permission read it; nobody adds, edits or deletes."""

    list_display = ("created_at", "kind", "username", "ip", "path", "request_id")
    list_filter = ("kind",)
    search_fields = ("username", "ip", "path", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
