"""Forms of the agency workspace. They only validate; views hand the cleaned data to the
services, so a form never saves a model itself."""

from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from casesite.forms import PlainSelect, UswdsFormMixin
from partners.models import PartnerOrganization, default_tabs

from . import access, selectors, services
from .languages import LANGUAGES
from .models import (
    AccessEnd,
    Activity,
    Case,
    Consent,
    EmergencyAccess,
    Note,
    Program,
    ServiceRequest,
    consent_data_choices,
)
from .records import Tab


def person_label(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


def basis_label(disclosure: access.Disclosure) -> str:
    """Whether an organization may be shown the case now, as the pickers say it: "Consent
    until Mar 3, 2027", "Emergency access until Mar 6, 2026 4:00 PM" or "No consent"."""
    if not disclosure.open:
        return "No consent"
    until = timezone.localtime(disclosure.until)
    if disclosure.end == AccessEnd.EMERGENCY:
        return f"Emergency access until {until:%b %-d, %Y %-I:%M %p}"
    # A consent covers the whole of its last day: `until` is the midnight after it.
    return f"Consent until {until - timedelta(days=1):%b %-d, %Y}"


def consent_tab_url(case: Case) -> str:
    return reverse("cases:detail", args=[case.pk, "consent"])


def labelled_organizations(
    *, case: Case, organizations
) -> tuple[list[tuple[int, str]], dict[int, access.Disclosure]]:
    """Choices for a select of organizations, each with its consent state for the case
    ("Harbor Family Services · No consent"), and those states: one batch, not a query
    per organization."""
    organizations = list(organizations)
    states = selectors.consent_states(case=case, organizations=organizations)
    choices = [(o.pk, f"{o.name} · {basis_label(states[o.pk])}") for o in organizations]
    return choices, states


def _no_consent_hint(case: Case, states) -> str:
    if all(state.open for state in states.values()):
        return ""
    return format_html(
        "An organization without a consent can be associated, but none of its agents can "
        'be referred the case: <a class="usa-link" href="{}">record a consent</a> first.',
        consent_tab_url(case),
    )


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
        field = self.fields["partner"]
        field.queryset = selectors.partner_choices(case=case)
        # Each option says whether a consent covers the organization (computed once).
        choices, states = labelled_organizations(case=case, organizations=field.queryset)
        field.choices = [("", field.empty_label), *choices]
        field.help_text = _no_consent_hint(case, states)
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
        # The listed organizations and whether a consent covers each (one batch per form).
        self._organizations: dict[str, PartnerOrganization] = {}
        self.states: dict[int, access.Disclosure] = {}
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
            self._organizations.setdefault(agent.organization.name, agent.organization)
            self._groups.setdefault(agent.organization.name, []).append(
                (user.pk, person_label(user) + role)
            )

    def _set_choices(self) -> None:
        missing = [o for o in self._organizations.values() if o.pk not in self.states]
        if missing:
            self.states.update(selectors.consent_states(case=self.case, organizations=missing))
        choices: list = [("", "- Select a person -")]
        if self._staff:
            choices.append(("Agency staff", self._staff))
        for name, options in self._groups.items():
            state = basis_label(self.states[self._organizations[name].pk])
            choices.append((f"{name} · {state}", options))
        self.fields["user"].choices = choices

    def basis_for(self, user_id) -> dict | None:
        """The consent state of the chosen partner agent's organization, for the note under
        the select; None for agency staff or nobody chosen."""
        agent = self.agents.get(_int_or_none(user_id))
        if agent is None:
            return None
        state = self.states.get(agent.organization.pk, access.CLOSED)
        return {"organization": agent.organization, "open": state.open, "label": basis_label(state)}

    @property
    def chosen_basis(self) -> dict | None:
        return self.basis_for(self.data.get("user") if self.is_bound else self.initial.get("user"))

    def _hint(self):
        return format_html(
            "{} Each organization shows its consent state: an agent of one with “No "
            'consent” can be added once a consent is recorded on the <a class="usa-link" '
            'href="{}">Consent tab</a>.',
            self._people_hint(),
            consent_tab_url(self.case),
        )

    def _people_hint(self):
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
    """A record's add form; `shared_by_default` decides the "Shared with partners" box.
    Every kind ends with the "Substance-use record (42 CFR Part 2)" box, off by default."""

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
        fields = (
            "type",
            "subject",
            "description",
            "due_date",
            "status",
            "shared_with_partners",
            "substance_use",
        )
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }


class ServiceRequestForm(RecordForm):
    shared_by_default = True

    class Meta:
        model = ServiceRequest
        fields = (
            "title",
            "description",
            "status",
            "priority",
            "shared_with_partners",
            "substance_use",
        )
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class NoteForm(RecordForm):
    class Meta:
        model = Note
        fields = ("body", "shared_with_partners", "substance_use")
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
    substance_use = forms.BooleanField(
        label="Substance-use record (42 CFR Part 2)",
        required=False,
        help_text="Shown to a partner only under a consent that covers substance-use records.",
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


# Consent and emergency access -----------------------------------------------------------------


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # February 29
        return day.replace(year=day.year + 1, day=28)


class ServiceErrorsMixin:
    """Shows a service's ValidationError field by field: each key of its dict on the form
    field of that name (or of `SERVICE_FIELDS`' name for it), the rest above the form."""

    SERVICE_FIELDS: dict[str, str] = {}

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, messages in error.message_dict.items():
            name = self.SERVICE_FIELDS.get(key, key)
            self.add_error(name if name in self.fields else None, messages)


class RecipientField(forms.ChoiceField):
    """A partner organization or a program ("organization:12", "program:3"). Any such value
    is taken, listed or not: an organization made inactive since the page was drawn is
    refused by the service, with the reason, rather than as "not one of the choices"."""

    def valid_value(self, value) -> bool:
        return True


class ConsentForm(ServiceErrorsMixin, UswdsFormMixin, forms.Form):
    """Record the client's consent. The service decides what is valid together (dates,
    how given, the Part 2 requirements); the form only reads the values."""

    SERVICE_FIELDS = {"organization": "recipient", "program": "recipient", "data": "covers"}

    recipient = RecipientField(
        label="Recipient",
        help_text="The partner organization the client lets the agency disclose to, or "
        "every partner serving a program.",
        error_messages={
            "required": "Choose the partner organization, or a program for all its partners."
        },
    )
    purpose = forms.CharField(
        label="Purpose",
        max_length=300,
        help_text="What the partner may use the information for, as the client agreed.",
        error_messages={"required": "Say what the consent is for."},
    )
    covers = forms.MultipleChoiceField(
        label="What it covers",
        choices=consent_data_choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose what the consent covers."},
    )
    starts_on = forms.DateField(
        label="Starts on",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Give the first day the consent covers."},
    )
    ends_on = forms.DateField(
        label="Ends on",
        help_text="The consent covers this whole day.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"required": "Give the last day the consent covers."},
    )
    method = forms.ChoiceField(
        label="How the client gave it",
        choices=Consent.Method.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how the consent was given."},
    )
    witness = forms.CharField(
        label="Witness",
        max_length=200,
        required=False,
        help_text="For a verbal consent: the name of who heard the client give it.",
    )
    document = forms.FileField(label="Signed form", required=False)
    information = forms.CharField(
        label="Information to be disclosed",
        max_length=300,
        required=False,
        help_text="How much and what kind of substance-use information, e.g. “treatment "
        "dates and the provider's name”.",
    )
    signed_on = forms.DateField(
        label="Date signed",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    supersedes = forms.ModelChoiceField(
        label="Replaces consent",
        queryset=Consent.objects.none(),
        required=False,
        empty_label="None: this is a new consent",
        help_text="The consent in force that this one replaces: it stops counting when "
        "this one is recorded.",
    )

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        today = timezone.localdate()
        self.initial.setdefault("covers", [Consent.DETAILS])
        self.initial.setdefault("starts_on", today)
        self.initial.setdefault("ends_on", _one_year_after(today))
        organizations = selectors.partner_organizations().filter(active=True)
        self.fields["recipient"].choices = [
            ("", "- Select a recipient -"),
            ("Partner organizations", [(f"organization:{o.pk}", o.name) for o in organizations]),
            (
                "Every partner of a program",
                [(f"program:{p.pk}", f"Every partner of {p.name}") for p in selectors.programs()],
            ),
        ]
        self.fields["supersedes"].queryset = selectors.case_consents_in_force(case=case)
        self.fields["supersedes"].label_from_instance = lambda c: (
            f"{c.recipient}, {c.starts_on:%b %-d, %Y} to {c.ends_on:%b %-d, %Y}: {c.purpose[:60]}"
        )
        allowed = ",".join(sorted(services.ALLOWED_UPLOADS))
        self.fields["document"].widget.attrs["accept"] = allowed
        limit = settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)
        kinds = ", ".join(sorted(e.lstrip(".").upper() for e in services.ALLOWED_UPLOADS))
        self.fields["document"].help_text = (
            f"For a signed form: {kinds}, up to {limit} MB. Kept as an attachment of the case "
            "that partners never see."
        )

    def clean_recipient(self) -> PartnerOrganization | Program:
        kind, _, pk = self.cleaned_data["recipient"].partition(":")
        found = None
        if pk.isdigit():
            if kind == "organization":
                found = selectors.partner_organizations().filter(pk=pk).first()
            elif kind == "program":
                found = selectors.programs().filter(pk=pk).first()
        if found is None:
            raise ValidationError("Choose the partner organization, or a program.")
        return found

    def clean_document(self):
        upload = self.cleaned_data["document"]
        if upload:
            services.validate_upload(upload)
        return upload

    @property
    def part_2(self) -> bool:
        """Is the substance-use category ticked (its fields are then required)?"""
        return Consent.SUBSTANCE_USE in (self["covers"].value() or [])

    def consent_fields(self) -> dict:
        """Keyword arguments of `services.consent_record`, but the signed form."""
        data = self.cleaned_data
        recipient = data["recipient"]
        return {
            "organization": recipient if isinstance(recipient, PartnerOrganization) else None,
            "program": recipient if isinstance(recipient, Program) else None,
            "data": data["covers"],
            **{
                name: data[name]
                for name in (
                    "purpose",
                    "starts_on",
                    "ends_on",
                    "method",
                    "witness",
                    "information",
                    "signed_on",
                    "supersedes",
                )
            },
        }


class ConsentRevokeForm(ServiceErrorsMixin, UswdsFormMixin, forms.Form):
    """The confirmation of revoking `consent`, with the reason the client gave."""

    reason = forms.CharField(
        label="Why the consent is revoked",
        max_length=300,
        # The confirmation opens on this field: it is what the user came to fill in.
        widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}),
        help_text="For example: “The client withdrew consent by phone on Mar 3.”",
        error_messages={"required": "Say why the consent is revoked."},
    )

    def __init__(self, *args, consent: Consent, **kwargs):
        super().__init__(*args, **kwargs)
        self.consent = consent


class EmergencyAccessForm(ServiceErrorsMixin, UswdsFormMixin, forms.Form):
    """Break-glass: a partner organization sees the case for a few hours without consent."""

    organization = forms.ModelChoiceField(
        label="Partner organization",
        queryset=PartnerOrganization.objects.none(),
        empty_label="- Select a partner -",
        error_messages={"required": "Choose the partner organization."},
    )
    reason = forms.CharField(
        label="Reason",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the partner needs the case before the client can consent.",
        error_messages={"required": "Say why the partner needs the case before a consent."},
    )
    hours = forms.IntegerField(
        label="Hours",
        min_value=1,
        max_value=7 * 24,
        initial=EmergencyAccess.DEFAULT_HOURS,
        help_text="How long it lasts: 72 hours unless you change it, at most 168 (7 days).",
    )

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.queryset = selectors.partner_organizations().filter(active=True)
        choices, _ = labelled_organizations(case=case, organizations=field.queryset)
        field.choices = [("", field.empty_label), *choices]
