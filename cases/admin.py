"""Django admin for cases. Every write goes through the same service as the agency UI: a case
created or edited, its partners and their Primary, its records and their sharing, its status
(the FSM transitions), the routing rules. History therefore shows admin changes with their
actor. The case team and events are read-only here (team changes grant and revoke object
permissions, which only services may do), and nothing with a history is deleted."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django_fsm.admin import FSMAdminMixin

from casesite.admin import ReadOnlyAdmin

from . import services
from .models import (
    CASE_TRANSITIONS,
    Activity,
    Attachment,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Consent,
    Note,
    Program,
    ServiceRequest,
)
from .records import KINDS
from .routing import services as routing_services


def _adopt(obj, saved) -> None:
    """Make the admin's instance the row a service saved (the admin goes on with it: its
    inlines, its log entry and its redirect)."""
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding, obj._state.db = False, saved._state.db


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

        for form in self.forms:
            data = form.cleaned_data
            if not data:
                continue
            link = form.instance
            if link.pk and "partner" in form.changed_data:
                raise ValidationError(
                    "A partner row cannot change its organization: remove it and add the other."
                )
            if data.get("DELETE") and link.pk:
                case = self.instance
                if case.team.filter(is_active=True, organization=link.partner).exists():
                    raise ValidationError(
                        f"Remove {link.partner}'s agents from the Case Team before removing it."
                    )
            elif not link.pk and data.get("partner") and not data["partner"].active:
                raise ValidationError(f"{data['partner']} is not active.")


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

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # The owner is chosen when the case is opened; the admin does not hand cases over.
        return [*readonly, "owner"] if obj is not None else readonly

    def has_delete_permission(self, request, obj=None):
        return False  # a case and its history are kept; Close it instead

    def save_model(self, request, obj, form, change):
        """Through the case services, as in the agency UI: the owner joins the Case Team and
        History gets the CREATED or UPDATED event, with the admin user as its actor."""
        fields = {
            name: form.cleaned_data[name]
            for name in services.CASE_EDITABLE_FIELDS
            if name in form.cleaned_data
        }
        if change:
            saved = services.case_update(actor=request.user, case=obj, **fields)
        else:
            saved = services.case_create(
                actor=request.user, owner=form.cleaned_data.get("owner"), **fields
            )
        _adopt(obj, saved)

    def save_formset(self, request, form, formset, change):
        if formset.model is not CasePartner:
            return super().save_formset(request, form, formset, change)
        # Partners through the partner services: each addition, removal and change of
        # Primary is an event in History, as on the case's Partners tab.
        case = form.instance
        primary = None
        for row in formset.forms:
            data = row.cleaned_data
            if not data:
                continue
            if data.get("DELETE"):
                if row.instance.pk:
                    services.partner_remove(
                        actor=request.user, case=case, partner=row.instance.partner
                    )
                continue
            if not row.instance.pk:
                services.partner_add(actor=request.user, case=case, partner=data["partner"])
            if data.get("is_primary"):
                primary = data["partner"] if not row.instance.pk else row.instance.partner
        if primary is not None:
            services.partner_set_primary(actor=request.user, case=case, partner=primary)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None

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
            request, f"{CASE_TRANSITIONS[transition_name]['label']}: done.", level=messages.SUCCESS
        )
        return True


class RecordAdmin(admin.ModelAdmin):
    list_filter = ("shared_with_partners", "by_partner")
    list_select_related = ("case", "author")
    autocomplete_fields = ("case",)
    readonly_fields = ("author", "by_partner", "created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        return False  # records are part of the case's history

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "case"] if obj is not None else readonly

    def get_fields(self, request, obj=None):
        kind = self.record_kind
        editable = ["case", *KINDS[kind].fields, "shared_with_partners"]
        return [
            *editable,
            *(f for f in self.get_readonly_fields(request, obj) if f not in editable),
        ]

    def save_model(self, request, obj, form, change):
        """Through the record services, as on the case page: History records the change
        (sharing with partners included) with the admin user as its actor."""
        kind = self.record_kind
        fields = {
            name: form.cleaned_data[name]
            for name in (*KINDS[kind].fields, "shared_with_partners")
            if name in form.cleaned_data
        }
        if change:
            stored = type(obj).objects.select_related("case").get(pk=obj.pk)
            saved = services.record_update(actor=request.user, record=stored, **fields)
        else:
            shared = fields.pop("shared_with_partners", False)
            saved = services.record_add(
                actor=request.user,
                case=form.cleaned_data["case"],
                kind=kind,
                shared_with_partners=shared,
                **fields,
            )
        _adopt(obj, saved)


@admin.register(Activity)
class ActivityAdmin(RecordAdmin):
    record_kind = "activities"
    list_display = ("subject", "case", "type", "status", "due_date", "shared_with_partners")
    list_filter = ("type", "status", *RecordAdmin.list_filter)
    search_fields = ("subject", "case__number")


@admin.register(ServiceRequest)
class ServiceRequestAdmin(RecordAdmin):
    record_kind = "servicerequests"
    list_display = ("number", "title", "case", "status", "priority", "shared_with_partners")
    list_filter = ("status", "priority", *RecordAdmin.list_filter)
    search_fields = ("number", "title", "case__number")
    readonly_fields = ("number", *RecordAdmin.readonly_fields)


@admin.register(Note)
class NoteAdmin(RecordAdmin):
    record_kind = "notes"
    list_display = ("__str__", "case", "author", "shared_with_partners", "created_at")
    search_fields = ("body", "case__number")


@admin.register(Attachment)
class AttachmentAdmin(RecordAdmin):
    record_kind = "attachments"
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
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "case", "verb", "actor", "by_partner")
    list_filter = ("verb", "by_partner")
    search_fields = ("case__number", "actor__username")
    list_select_related = ("case", "actor")
    date_hierarchy = "created_at"


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    """Read-only: consents are recorded and revoked through the services (the case page),
    never edited; the admin shows them for any case."""

    list_display = ("case", "organization", "program", "starts_on", "ends_on", "revoked_at")
    list_filter = ("method",)
    search_fields = ("case__number", "organization__name")
    list_select_related = ("case", "organization", "program")


# Assignment Manager ------------------------------------------------------------------------

from .models import AssignmentRule, RoutingDecision  # noqa: E402


class AssignmentRuleForm(forms.ModelForm):
    """The checks of the rule services, as form errors."""

    class Meta:
        model = AssignmentRule
        fields = "__all__"  # noqa: DJ007  (the admin's fieldsets choose what is shown)

    def clean(self):
        data = super().clean()
        if not data.get("organizations") and not data.get("agents"):
            raise ValidationError("Choose at least one partner organization or partner agent.")
        if (data.get("response_window_hours") or 0) < 1:
            self.add_error("response_window_hours", "The response window is at least one hour.")
        return data


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    """Routing rules; the agency UI at /cases/routing/ manages the same rows, through the same
    services. Only users who may route cases change them; the order is kept by the Routing
    page's Move buttons."""

    form = AssignmentRuleForm

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
    list_filter = ("active", "strategy", "on_expiry", "program")
    search_fields = ("name",)
    list_select_related = ("program",)
    filter_horizontal = ("organizations", "agents")
    readonly_fields = ("order", "round_robin_cursor", "created_at", "updated_at")
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

    def has_add_permission(self, request):
        return request.user.has_perm(routing_services.ROUTE_PERMISSION)

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm(routing_services.ROUTE_PERMISSION)

    def has_delete_permission(self, request, obj=None):
        return False  # decisions point at their rule; deactivate it instead

    def save_model(self, request, obj, form, change):
        """Through the routing services, as on the Routing page: they check the routing
        permission and keep the rule order."""
        fields = {
            name: form.cleaned_data[name]
            for name in routing_services.RULE_FIELDS
            if name in form.cleaned_data
        }
        pools = {
            "organizations": form.cleaned_data.get("organizations", ()),
            "agents": form.cleaned_data.get("agents", ()),
        }
        if change:
            saved = routing_services.assignment_rule_update(
                actor=request.user, rule=obj, **pools, **fields
            )
        else:
            saved = routing_services.assignment_rule_create(actor=request.user, **pools, **fields)
        _adopt(obj, saved)

    def save_related(self, request, form, formsets, change):
        """The pools were saved with the rule by its service."""

    def _set_active(self, request, queryset, *, active: bool) -> None:
        for rule in queryset:
            routing_services.assignment_rule_set_active(
                actor=request.user, rule=rule, active=active
            )
        state = "active" if active else "inactive"
        self.message_user(request, f"{queryset.count()} rule(s) {state}.", level=messages.SUCCESS)

    @admin.action(description="Activate the selected rules")
    def activate(self, request, queryset):
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate the selected rules")
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, active=False)


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(ReadOnlyAdmin):
    """Read-only: decisions are the record of what routing did."""

    list_display = ("created_at", "case", "outcome", "trigger", "rule_name", "winner", "actor")
    list_filter = ("outcome", "trigger")
    search_fields = ("case__number", "rule_name")
    list_select_related = ("case", "winner__user", "winner__organization", "actor")
    date_hierarchy = "created_at"
