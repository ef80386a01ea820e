"""Forms of the Partner Portal.

Record forms hold only the fields a partner agent may choose. The case, the author, whether a
record is shared and anything else come from the server (the services force them), so a
forged POST field has nowhere to go.
"""

from datetime import datetime, time

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.people import display_name
from cases import services
from cases.models import Activity, CaseTeamMember, Referral, ServiceRequest
from casesite.forms import UswdsFormMixin

from . import selectors

DeclineReason = Referral.DeclineReason


class MyCasesFilterForm(UswdsFormMixin, forms.Form):
    """The My Cases filters, read from the query string. Invalid values are dropped rather
    than reported: a stale bookmark still shows the list. The program choices arrive with
    the page's own query, so a program code is taken as given (an unknown one matches
    nothing) and the choices are set for display afterwards."""

    q = forms.CharField(label="Search", required=False, max_length=100, strip=True)
    new = forms.BooleanField(label="New only", required=False)
    state = forms.ChoiceField(label="Referral state", required=False)
    program = forms.CharField(label="Program", required=False, max_length=16, widget=forms.Select)
    sort = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, data=None):
        super().__init__(data)
        self.fields["q"].widget.input_type = "search"
        self.fields["q"].widget.attrs["placeholder"] = "Case Number or Case Name"
        self.fields["state"].choices = [
            ("", "Any state"),
            *((state.value, state.label) for state in selectors.MY_CASES_STATES),
        ]
        self.set_program_choices([])

    def set_program_choices(self, choices) -> None:
        self.fields["program"].widget.choices = [("", "All programs"), *choices]

    def filters(self) -> selectors.MyCasesFilters:
        data = {}
        if self.is_bound:
            self.is_valid()
            data = {name: value for name, value in self.cleaned_data.items() if value}
        sort = data.get("sort", "")
        return selectors.MyCasesFilters(
            query=data.get("q", ""),
            new_only=bool(data.get("new")),
            referral_state=data.get("state", ""),
            program=data.get("program", ""),
            sort=sort if sort.removeprefix("-") in selectors.MY_CASES_SORTS else "",
            page=data.get("page") or 1,
        )


class DeclineForm(UswdsFormMixin, forms.Form):
    reason = forms.ChoiceField(
        label="Reason for declining", choices=DeclineReason.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Explain (required for Other)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].widget.attrs["class"] = "usa-radio__input"

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == DeclineReason.OTHER and not cleaned.get("note", "").strip():
            self.add_error("note", "Say why you decline this case.")
        return cleaned


class WaitlistForm(UswdsFormMixin, forms.Form):
    """Put a referral on the waitlist until a review date (the clock stops until then)."""

    review_on = forms.DateField(
        label="Review date",
        help_text="The day you will look at this referral again.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    position = forms.IntegerField(
        label="Waitlist position (optional)", required=False, min_value=1, max_value=100_000
    )
    note = forms.CharField(
        label="Note for the agency (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_review_on(self):
        review_on = self.cleaned_data["review_on"]
        if review_on <= timezone.localdate():
            raise ValidationError("Choose a review date after today.")
        return review_on

    def review_at(self):
        """The review date's start of the business day, in the site's time zone."""
        moment = datetime.combine(self.cleaned_data["review_on"], time(9, 0))
        return timezone.make_aware(moment)


class CompleteForm(UswdsFormMixin, forms.Form):
    """Complete a referral: the outcome code and a note of what was done."""

    outcome = forms.ChoiceField(
        label="Outcome",
        choices=[c for c in Referral.Outcome.choices if c[0] != Referral.Outcome.NOT_RECORDED],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="What was done for the client",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outcome"].widget.attrs["class"] = "usa-radio__input"


class FailForm(UswdsFormMixin, forms.Form):
    """Close an accepted referral as "could not help", with a coded reason."""

    reason = forms.ChoiceField(
        label="Why you could not help",
        choices=Referral.FailReason.choices,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Explain (required for Other)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].widget.attrs["class"] = "usa-radio__input"

    def clean(self):
        cleaned = super().clean()
        other = cleaned.get("reason") == Referral.FailReason.OTHER
        if other and not cleaned.get("note", "").strip():
            self.add_error("note", "Say why you could not help.")
        return cleaned


class AssignForm(UswdsFormMixin, forms.Form):
    """A partner manager assigns a referral of the intake queue to one of their agents."""

    to_user = forms.TypedChoiceField(label="Assign to", coerce=int)

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].choices = [("", "- Select an agent -")] + [
            (agent.user_id, agent_name(agent.user)) for agent in agents
        ]
        self._agents = {agent.user_id: agent.user for agent in agents}

    def clean_to_user(self):
        return self._agents[self.cleaned_data["to_user"]]


class ReassignForm(UswdsFormMixin, forms.Form):
    """A partner manager moves one of the organization's assignments on this case to
    another active agent of the organization."""

    member = forms.ModelChoiceField(
        queryset=CaseTeamMember.objects.none(), widget=forms.HiddenInput
    )
    to_user = forms.TypedChoiceField(label="Reassign to", coerce=int)

    def __init__(self, *args, members, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = members
        self.fields["to_user"].choices = [("", "- Select an agent -")] + [
            (agent.user_id, agent_name(agent.user)) for agent in agents
        ]
        self._agents = {agent.user_id: agent.user for agent in agents}

    def clean_to_user(self):
        return self._agents[self.cleaned_data["to_user"]]


def agent_name(user) -> str:
    return display_name(user)


# Records ----------------------------------------------------------------------------------


class ActivityForm(UswdsFormMixin, forms.Form):
    record_label = "Activity"

    type = forms.ChoiceField(label="Type", choices=Activity.Type.choices)
    subject = forms.CharField(label="Subject", max_length=200)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    due_date = forms.DateField(
        label="Due date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    status = forms.ChoiceField(
        label="Activity status", choices=Activity.Status.choices, initial=Activity.Status.PLANNED
    )

    def save(self, *, actor, case):
        return services.record_add(actor=actor, case=case, kind="activities", **self.cleaned_data)


class NoteForm(UswdsFormMixin, forms.Form):
    record_label = "Note"

    body = forms.CharField(
        label="Note", max_length=10_000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def save(self, *, actor, case):
        return services.record_add(actor=actor, case=case, kind="notes", **self.cleaned_data)


def _upload_hint() -> str:
    kinds = ", ".join(sorted(e.lstrip(".").upper() for e in services.ALLOWED_UPLOADS))
    return f"{kinds}; up to {filesizeformat(settings.ATTACHMENT_MAX_BYTES)}."


class AttachmentForm(UswdsFormMixin, forms.Form):
    record_label = "Attachment"

    file = forms.FileField(label="File")
    description = forms.CharField(label="Description", required=False, max_length=255)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _upload_hint()
        self.fields["file"].widget.attrs["accept"] = ",".join(sorted(services.ALLOWED_UPLOADS))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        services.validate_upload(upload)  # size, type and content; raises ValidationError
        return upload

    def save(self, *, actor, case):
        try:
            return services.attachment_add(
                actor=actor,
                case=case,
                upload=self.cleaned_data["file"],
                description=self.cleaned_data["description"],
            )
        except ValidationError as exc:
            self.add_error("file", exc)
            return None


class ServiceRequestStatusForm(UswdsFormMixin, forms.Form):
    status = forms.ChoiceField(label="Status", choices=ServiceRequest.Status.choices)

    def save(self, *, actor, record):
        return services.record_update(actor=actor, record=record, **self.cleaned_data)
