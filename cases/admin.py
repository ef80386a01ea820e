"""Django admin for cases. Status changes only through the FSM transitions (which call the
same service as the agency UI); the case team and events are read-only here because team
changes grant and revoke object permissions, which only services may do."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django_fsm.admin import FSMAdminMixin

from . import services
from .models import (
    Activity,
    Attachment,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Note,
    Program,
    ServiceRequest,
)


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class OnePrimaryFormSet(BaseInlineFormSet):
    """Admin edits keep the invariant: exactly one Primary among the case's partners."""

    def clean(self):
        super().clean()
        rows = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        primaries = sum(1 for row in rows if row.get("is_primary"))
        if rows and primaries != 1:
            raise ValidationError("Exactly one partner must be Primary.")

    def save(self, commit=True):
        # Demote the old Primary first: the database allows one Primary per case after every
        # single UPDATE, whichever row (existing or new) becomes the Primary.
        if commit and self.instance.pk:
            keep = next(
                (
                    form.instance.pk
                    for form in self.forms
                    if form.cleaned_data
                    and not form.cleaned_data.get("DELETE")
                    and form.cleaned_data.get("is_primary")
                ),
                None,
            )
            primaries = CasePartner.objects.filter(case=self.instance, is_primary=True)
            primaries.exclude(pk=keep).update(is_primary=False)
        return super().save(commit)


class CasePartnerInline(admin.TabularInline):
    model = CasePartner
    formset = OnePrimaryFormSet
    extra = 0
    fields = ("partner", "is_primary", "added_by", "added_at")
    readonly_fields = ("added_by", "added_at")
    autocomplete_fields = ("partner",)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CaseTeamInline(ReadOnlyInline):
    model = CaseTeamMember
    fields = ("user", "role", "organization", "referral_state", "is_active", "seen_at", "added_at")
    readonly_fields = fields


class NoteInline(ReadOnlyInline):
    model = Note
    fields = ("created_at", "author", "body", "shared_with_partners", "by_partner")
    readonly_fields = fields


class ActivityInline(ReadOnlyInline):
    model = Activity
    fields = ("created_at", "type", "subject", "status", "due_date", "shared_with_partners")
    readonly_fields = fields


class ServiceRequestInline(ReadOnlyInline):
    model = ServiceRequest
    fields = ("number", "title", "status", "priority", "shared_with_partners")
    readonly_fields = fields


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = ("original_name", "size", "content_type", "shared_with_partners", "created_at")
    readonly_fields = fields


@admin.register(Case)
class CaseAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    list_display = ("number", "name", "program", "status", "priority", "owner", "updated_at")
    list_filter = ("status", "program", "priority", "region")
    search_fields = ("number", "name", "applicant_name")
    readonly_fields = ("number", "status_changed_at", "created_at", "updated_at")
    autocomplete_fields = ("owner",)
    list_select_related = ("program", "owner")
    date_hierarchy = "created_at"
    inlines = (
        CasePartnerInline,
        CaseTeamInline,
        ActivityInline,
        AttachmentInline,
        ServiceRequestInline,
        NoteInline,
    )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.number = services.next_case_number()
        super().save_model(request, obj, form, change)

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None):
        # The admin fires the same service as the agency UI: permission check, lock,
        # CaseEvent, and the follow-up work of a referral.
        try:
            services.case_transition(actor=request.user, case=obj, name=transition_name)
        except PermissionDenied:
            self.message_user(request, "You may not do that.", level=messages.ERROR)
            return False
        except services.ConflictError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return False
        self.message_user(
            request, f"{services.TRANSITIONS[transition_name]}: done.", level=messages.SUCCESS
        )
        return True


class RecordAdmin(admin.ModelAdmin):
    list_filter = ("shared_with_partners", "by_partner")
    list_select_related = ("case", "author")
    autocomplete_fields = ("case",)
    readonly_fields = ("author", "by_partner", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(Activity)
class ActivityAdmin(RecordAdmin):
    list_display = ("subject", "case", "type", "status", "due_date", "shared_with_partners")
    list_filter = ("type", "status", *RecordAdmin.list_filter)
    search_fields = ("subject", "case__number")


@admin.register(ServiceRequest)
class ServiceRequestAdmin(RecordAdmin):
    list_display = ("number", "title", "case", "status", "priority", "shared_with_partners")
    list_filter = ("status", "priority", *RecordAdmin.list_filter)
    search_fields = ("number", "title", "case__number")
    readonly_fields = ("number", *RecordAdmin.readonly_fields)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.number = services.next_service_request_number()
        super().save_model(request, obj, form, change)


@admin.register(Note)
class NoteAdmin(RecordAdmin):
    list_display = ("__str__", "case", "author", "shared_with_partners", "created_at")
    search_fields = ("body", "case__number")


@admin.register(Attachment)
class AttachmentAdmin(RecordAdmin):
    list_display = ("original_name", "case", "size", "content_type", "shared_with_partners")
    search_fields = ("original_name", "case__number")
    readonly_fields = (
        "file",
        "original_name",
        "size",
        "content_type",
        "sha256",
        *RecordAdmin.readonly_fields,
    )

    def has_add_permission(self, request):
        return False  # uploads go through the case page, which validates the file


@admin.register(CasePartner)
class CasePartnerAdmin(admin.ModelAdmin):
    list_display = ("case", "partner", "is_primary", "added_at")
    list_filter = ("is_primary", "partner")
    search_fields = ("case__number", "partner__name")
    list_select_related = ("case", "partner")
    readonly_fields = ("case", "partner", "is_primary", "added_by", "added_at")

    def has_add_permission(self, request):
        return False  # associate partners on the case (inline) or in the agency UI


@admin.register(CaseTeamMember)
class CaseTeamMemberAdmin(admin.ModelAdmin):
    list_display = ("case", "user", "role", "organization", "referral_state", "is_active")
    list_filter = ("role", "referral_state", "is_active", "organization")
    search_fields = ("case__number", "user__username", "user__last_name")
    list_select_related = ("case", "user", "organization")
    # Newest first, by primary key: sorting millions of rows by added_at took seconds.
    ordering = ("-pk",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CaseEvent)
class CaseEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "case", "verb", "actor", "by_partner")
    list_filter = ("verb", "by_partner")
    search_fields = ("case__number", "actor__username")
    list_select_related = ("case", "actor")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Assignment Manager ------------------------------------------------------------------------

from .models import AssignmentRule, RoutingDecision  # noqa: E402


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    """Routing rules; the agency UI at /cases/routing/ manages the same rows."""

    list_display = (
        "order",
        "name",
        "active",
        "program",
        "region",
        "language",
        "priority",
        "strategy",
        "response_window_hours",
        "on_expiry",
    )
    list_display_links = ("name",)
    list_editable = ("order", "active")
    list_filter = ("active", "strategy", "on_expiry", "program")
    search_fields = ("name",)
    list_select_related = ("program",)
    filter_horizontal = ("organizations", "agents")
    readonly_fields = ("round_robin_cursor", "created_at", "updated_at")
    actions = ("activate", "deactivate")
    fieldsets = (
        (None, {"fields": ("name", "order", "active")}),
        ("Which cases (empty: any)", {"fields": ("program", "region", "language", "priority")}),
        (
            "Candidates",
            {"fields": ("organizations", "agents", "match_language", "match_program")},
        ),
        (
            "How",
            {
                "fields": (
                    "strategy",
                    "response_window_hours",
                    "on_expiry",
                    "round_robin_cursor",
                )
            },
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.action(description="Activate the selected rules")
    def activate(self, request, queryset):
        queryset.update(active=True)

    @admin.action(description="Deactivate the selected rules")
    def deactivate(self, request, queryset):
        queryset.update(active=False)


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(admin.ModelAdmin):
    """Read-only: decisions are the record of what routing did."""

    list_display = ("created_at", "case", "outcome", "trigger", "rule_name", "winner", "actor")
    list_filter = ("outcome", "trigger")
    search_fields = ("case__number", "rule_name")
    list_select_related = ("case", "winner__user", "winner__organization", "actor")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
