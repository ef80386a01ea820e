from django.contrib import admin

from .models import PartnerAgent, PartnerOrganization
from .services import partner_agent_sync_groups


class PartnerAgentInline(admin.TabularInline):
    model = PartnerAgent
    extra = 0
    fields = ("user", "role", "max_open_cases", "available")
    autocomplete_fields = ("user",)


@admin.register(PartnerOrganization)
class PartnerOrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "active", "created_at")
    list_filter = ("kind", "active")
    search_fields = ("name",)
    inlines = (PartnerAgentInline,)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for agent in form.instance.agents.select_related("user", "organization"):
            partner_agent_sync_groups(agent=agent)


@admin.register(PartnerAgent)
class PartnerAgentAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "max_open_cases", "available")
    list_filter = ("organization", "role", "available")
    search_fields = ("user__username", "user__first_name", "user__last_name", "organization__name")
    autocomplete_fields = ("user", "organization")
    list_select_related = ("user", "organization")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        partner_agent_sync_groups(agent=obj)
