from django.contrib import admin

from .models import BusinessClosure, PartnerAgent, PartnerOrganization
from .services import (
    organization_closure_add,
    organization_closure_remove,
    partner_agent_sync_groups,
)


class PartnerAgentInline(admin.TabularInline):
    model = PartnerAgent
    extra = 0
    fields = ("user", "role", "max_open_cases", "available")
    autocomplete_fields = ("user",)


class BusinessClosureInline(admin.TabularInline):
    """Closures are added or deleted, never edited: both go through the services."""

    model = BusinessClosure
    extra = 0
    fields = ("starts_on", "ends_on", "reason")

    def has_change_permission(self, request, obj=None):
        # Existing rows read-only; a wrong closure is deleted and added again.
        return False


@admin.register(PartnerOrganization)
class PartnerOrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "active", "time_zone", "created_at")
    list_filter = ("kind", "active")
    search_fields = ("name",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "kind",
                    "programs_served",
                    "service_areas",
                    "languages",
                    "active",
                    "default_tabs",
                )
            },
        ),
        (
            "Business hours",
            {
                "description": "Referral deadlines are counted in these hours, minus public "
                "holidays and the closures below.",
                "fields": (
                    "time_zone",
                    "weekly_hours",
                    ("holiday_country", "holiday_subdivision"),
                    "default_response_hours",
                ),
            },
        ),
    )
    inlines = (PartnerAgentInline, BusinessClosureInline)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for agent in form.instance.agents.select_related("user", "organization"):
            partner_agent_sync_groups(agent=agent)

    def save_formset(self, request, form, formset, change):
        if formset.model is not BusinessClosure:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for closure in formset.deleted_objects:
            organization_closure_remove(actor=request.user, closure=closure)
        for closure in formset.new_objects:
            organization_closure_add(
                actor=request.user,
                organization=form.instance,
                starts_on=closure.starts_on,
                ends_on=closure.ends_on,
                reason=closure.reason,
            )
        return None


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
