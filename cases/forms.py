"""Forms of the agency workspace. They only validate; views hand the cleaned data to the
services, so a form never saves a model itself."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from casesite.forms import PlainSelect, UswdsFormMixin
from partners.models import PartnerOrganization, default_tabs

from . import selectors, services
from .languages import LANGUAGES
from .models import Activity, Case, Note, Program, ServiceRequest
from .records import Tab


def person_label(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


# Cases List filters --------------------------------------------------------------------------


class CaseFilterForm(UswdsFormMixin, forms.Form):
    """The Cases List query and filters (GET). Invalid values are ignored, not shown."""

    q = forms.CharField(label="Search cases", required=False, max_length=100)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *Case.Status.choices],
        widget=PlainSelect,
    )
    program = forms.ModelChoiceField(
        label="Program",
        required=False,
        queryset=Program.objects.none(),
        to_field_name="code",
        empty_label="Any program",
        widget=PlainSelect,
    )
    partner = forms.ModelChoiceField(
        label="Primary partner",
        required=False,
        queryset=PartnerOrganization.objects.none(),
        empty_label="Any partner",
        widget=PlainSelect,
    )
    owner = forms.ModelChoiceField(
        label="Owner",
        required=False,
        queryset=get_user_model().objects.none(),
        empty_label="Anyone",
        widget=PlainSelect,
    )
    pending = forms.BooleanField(label="Referred and not accepted", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["program"].queryset = selectors.programs()
        self.fields["partner"].queryset = selectors.partner_organizations()
        self.fields["owner"].queryset = selectors.agency_staff()
        self.fields["owner"].label_from_instance = person_label
        self.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": "Case number, Case Name or applicant"}
        )
        for name in ("status", "program", "partner", "owner", "pending"):
            widget = self.fields[name].widget
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} cw-filter-control".strip()

    def filters(self) -> dict:
        """Keyword arguments for `selectors.agency_case_list` from the valid fields."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "query": (data.get("q") or "").strip(),
            "status": data.get("status") or "",
            "program": data["program"].code if data.get("program") else "",
            "partner": data["partner"].pk if data.get("partner") else "",
            "owner": data["owner"].pk if data.get("owner") else "",
            "pending_only": bool(data.get("pending")),
        }


# Cases ---------------------------------------------------------------------------------------


class CaseForm(UswdsFormMixin, forms.ModelForm):
    """New Case and Edit case. Bound to initial values, never to the case itself: the
    service compares and applies the changes (and records them)."""

    SECTIONS = (
        ("Case", ("name", "program", "priority", "region", "language", "summary")),
        (
            "Applicant",
            ("applicant_name", "applicant_phone", "applicant_email", "date_of_birth"),
        ),
        (
            "Internal: never shown to partners",
            ("household_income", "applicant_identifier", "eligibility_notes"),
        ),
    )

    language = forms.ChoiceField(label="Language", choices=LANGUAGES, initial="en")

    class Meta:
        model = Case
        fields = services.CASE_EDITABLE_FIELDS
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 4}),
            "eligibility_notes": forms.Textarea(attrs={"rows": 3}),
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "applicant_phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }
        labels = {
            "applicant_name": "Applicant name",
            "applicant_phone": "Applicant phone",
            "applicant_email": "Applicant email",
            "date_of_birth": "Date of birth",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        language = self.initial.get("language") or self.data.get("language")
        if language and language not in dict(LANGUAGES):
            # Keep a language code this list does not know, so editing never loses it.
            self.fields["language"].choices = [*LANGUAGES, (language, language)]
        self.fields["program"].queryset = selectors.programs()
        self.fields["program"].empty_label = "- Select a program -"

    def sections(self):
        for title, names in self.SECTIONS:
            yield title, [self[name] for name in names]

    def case_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in services.CASE_EDITABLE_FIELDS}


class NewCaseForm(CaseForm):
    owner = forms.ModelChoiceField(label="Owner", queryset=get_user_model().objects.none())

    SECTIONS = (
        ("Case", ("name", "program", "owner", "priority", "region", "language", "summary")),
        *CaseForm.SECTIONS[1:],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = selectors.agency_staff()
        self.fields["owner"].label_from_instance = person_label


# Partners ------------------------------------------------------------------------------------


class PartnerAddForm(UswdsFormMixin, forms.Form):
    """New: associate one predefined partner organization with the case."""

    q = forms.CharField(label="Search partner organizations", required=False, max_length=100)
    partner = forms.ModelChoiceField(
        label="Partner organization",
        queryset=PartnerOrganization.objects.none(),
        empty_label="- Select a partner -",
        error_messages={"invalid_choice": "Choose an active partner not yet on this case."},
    )

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = selectors.partner_choices(case=case)
        self.fields["q"].widget.attrs.update(
            {"type": "search", "autocomplete": "off", "placeholder": "Type part of a name"}
        )


# Case Team -----------------------------------------------------------------------------------

# Above this many partner agents who may join, the Person select lists agency staff and the
# agents of the case's partner organizations only, and a search finds the others: a select
# of thousands of options is slow to send and unusable. Both read when a form is made.
PICKER_LIMIT = 100
# The most agents a search adds to the select.
PICKER_MATCHES = 50


def _partner_agent(user):
    """The user's partner agent profile, or None for agency staff."""
    return getattr(user, "partner_agent", None)


class PersonChoiceField(forms.TypedChoiceField):
    """The Person select. Its options may be some of the people who may join (a search's),
    so no value is refused for not being among them: `TeamAddForm.clean_user` decides."""

    def valid_value(self, value) -> bool:
        return True


class TeamAddForm(UswdsFormMixin, forms.Form):
    """Add a person to the Case Team: agency staff, or a partner agent with the tabs that
    agent may open (by default the organization's).

    With more than PICKER_LIMIT partner agents who may join, the select lists those of the
    case's partner organizations and the first PICKER_MATCHES matching `query`; anyone who
    may join is accepted, listed or not."""

    user = PersonChoiceField(
        label="Person",
        coerce=int,
        empty_value=None,
        # Also the answer to a form posted twice: the person has just joined.
        error_messages={"invalid_choice": "Choose a person who is not on the Case Team yet."},
    )
    tabs = forms.MultipleChoiceField(
        label="Tabs the partner agent may see",
        choices=Tab.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Besides the case details. Ignored for agency staff.",
    )
    response_hours = forms.IntegerField(
        label="Response window (business hours)",
        min_value=1,
        max_value=2000,
        required=False,
        help_text="How long the partner agent has to accept or decline, counted in the "
        "organization's business hours. Filled in with the organization's default.",
    )

    def __init__(self, *args, case: Case, refresh_url: str = "", query: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        self.query = " ".join(query.split())[:100]
        if refresh_url:
            # Picking a person re-ticks the tab boxes with that agent's organization defaults.
            self.fields["user"].widget.attrs.update(
                {
                    "hx-get": refresh_url,
                    "hx-trigger": "change",
                    "hx-target": "#team-tab-choices",
                    "hx-select": "#team-tab-choices",
                    "hx-swap": "outerHTML",
                }
            )
        self.agent_count = selectors.team_candidate_count(case=case)
        self.searchable = self.agent_count > PICKER_LIMIT
        self.match_count: int | None = None
        if self.searchable:
            staff, agents = selectors.team_candidates(case=case, case_partners_only=True)
            agents = list(agents)
            if self.query:
                self.match_count = selectors.team_candidate_count(case=case, query=self.query)
                _, matches = selectors.team_candidates(
                    case=case, query=self.query, limit=PICKER_MATCHES
                )
                agents.extend(matches)
        else:
            staff, agents = selectors.team_candidates(case=case)
            self.query = ""
        self.people: dict[int, object] = {}
        self.agents: dict[int, object] = {}
        self._staff: list = []
        self._groups: dict[str, list] = {}
        for user in staff:
            self._list(user)
        for agent in agents:
            self._list(agent.user, agent)
        if not self.is_bound:
            chosen = _int_or_none(self.initial.get("user"))
            if chosen is not None and chosen not in self.people:
                # Picked from a search's options: list them again, with their tab defaults.
                user = selectors.team_candidate(case=case, user_id=chosen)
                if user is not None:
                    self._list(user, _partner_agent(user))
            self.initial.setdefault("tabs", self.default_tabs_for(chosen))
            self.initial.setdefault("response_hours", self.default_hours_for(chosen))
        self._set_choices()
        self.fields["user"].help_text = self._hint()

    def _list(self, user, agent=None) -> None:
        """Add an option for the person, once, under Agency staff or their organization."""
        if user.pk in self.people:
            return
        self.people[user.pk] = user
        if agent is None:
            self._staff.append((user.pk, person_label(user)))
        else:
            self.agents[user.pk] = agent
            role = " · Partner manager" if agent.is_manager else ""
            self._groups.setdefault(agent.organization.name, []).append(
                (user.pk, person_label(user) + role)
            )

    def _set_choices(self) -> None:
        choices: list = [("", "- Select a person -")]
        if self._staff:
            choices.append(("Agency staff", self._staff))
        choices.extend(self._groups.items())
        self.fields["user"].choices = choices

    def _hint(self):
        if not self.searchable:
            return "Agency staff, or an agent of an active partner organization."
        if self.match_count is None:
            return format_html(
                "Agency staff, and the agents of this case's partner organizations. Find any "
                "of the {} partner agents who may join with the search above.",
                f"{self.agent_count:,}",
            )
        if not self.match_count:
            return format_html("No partner agent matches “{}”.", self.query)
        hint = format_html(
            "{} {} “{}”.",
            f"{self.match_count:,}",
            "partner agent matches" if self.match_count == 1 else "partner agents match",
            self.query,
        )
        if self.match_count > PICKER_MATCHES:
            hint = format_html(
                "{} Showing the first {}: type more of the name.", hint, PICKER_MATCHES
            )
        return hint

    def default_tabs_for(self, user_id) -> list[str]:
        """The tabs ticked before the user decides: the agent's organization's defaults."""
        agent = self.agents.get(_int_or_none(user_id))
        return list(agent.organization.default_tabs if agent else default_tabs())

    def default_hours_for(self, user_id) -> int | None:
        """The response window proposed: the agent's organization's default."""
        agent = self.agents.get(_int_or_none(user_id))
        return agent.organization.default_response_hours if agent else None

    def clean_user(self):
        user = selectors.team_candidate(case=self.case, user_id=self.cleaned_data["user"])
        if user is None:
            raise ValidationError("Choose a person who is not on the Case Team yet.")
        # Listed, so that the select still shows the choice if the form comes back.
        self._list(user, _partner_agent(user))
        self._set_choices()
        return user


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# Records -------------------------------------------------------------------------------------


class RecordForm(UswdsFormMixin, forms.ModelForm):
    """A record's add form; `shared_by_default` decides the "Shared with partners" box."""

    shared_by_default = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shared_with_partners"].initial = self.shared_by_default
        self.fields[
            "shared_with_partners"
        ].help_text = "Partner agents on the Case Team see it in their tab."

    def record_fields(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "shared_with_partners"}


class ActivityForm(RecordForm):
    shared_by_default = True

    class Meta:
        model = Activity
        fields = ("type", "subject", "description", "due_date", "status", "shared_with_partners")
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }


class ServiceRequestForm(RecordForm):
    shared_by_default = True

    class Meta:
        model = ServiceRequest
        fields = ("title", "description", "status", "priority", "shared_with_partners")
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class NoteForm(RecordForm):
    class Meta:
        model = Note
        fields = ("body", "shared_with_partners")
        widgets = {"body": forms.Textarea(attrs={"rows": 4})}
        labels = {"body": "Note"}


class AttachmentForm(UswdsFormMixin, forms.Form):
    file = forms.FileField(label="File")
    description = forms.CharField(label="Description", required=False, max_length=255)
    shared_with_partners = forms.BooleanField(
        label="Shared with partners",
        required=False,
        help_text="Partner agents on the Case Team may download it.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = ",".join(sorted(services.ALLOWED_UPLOADS))
        self.fields["file"].widget.attrs["accept"] = allowed
        limit = settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)
        kinds = ", ".join(sorted(e.lstrip(".").upper() for e in services.ALLOWED_UPLOADS))
        self.fields["file"].help_text = f"{kinds}; up to {limit} MB."

    def clean_file(self):
        upload = self.cleaned_data["file"]
        services.validate_upload(upload)
        return upload


class ServiceRequestStatusForm(UswdsFormMixin, forms.Form):
    status = forms.ChoiceField(label="Status", choices=ServiceRequest.Status.choices)
