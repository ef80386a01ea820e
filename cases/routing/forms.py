"""The routing rule form of the agency UI. It only validates; the view hands the cleaned
data to `assignment_rule_create` / `assignment_rule_update`."""

from django import forms
from django.core.exceptions import ValidationError

from accounts.people import display_name
from casesite.forms import UswdsFormMixin
from partners.models import PartnerAgent, PartnerOrganization

from ..languages import LANGUAGES
from ..models import AssignmentRule, Case, Program
from .services import RULE_FIELDS


class AgentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, agent: PartnerAgent) -> str:
        name = display_name(agent.user)
        return f"{name} ({agent.organization.name})"


class AssignmentRuleForm(UswdsFormMixin, forms.ModelForm):
    program = forms.ModelChoiceField(
        queryset=Program.objects.order_by("name"),
        required=False,
        empty_label="Any program",
        help_text="Empty: any program.",
    )
    language = forms.ChoiceField(
        choices=[("", "Any language"), *LANGUAGES],
        required=False,
        help_text="The case language. Empty: any language.",
    )
    priority = forms.ChoiceField(
        choices=[("", "Any priority"), *Case.Priority.choices], required=False
    )
    organizations = forms.ModelMultipleChoiceField(
        label="Partner organizations",
        queryset=PartnerOrganization.objects.filter(active=True).order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "usa-checkbox__input"}),
        help_text="Every partner agent of these organizations (partner managers excluded).",
    )
    agents = AgentChoiceField(
        label="Specific partner agents",
        queryset=PartnerAgent.objects.select_related("user", "organization").order_by(
            "organization__name", "user__last_name", "user__first_name"
        ),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "usa-checkbox__input"}),
    )

    class Meta:
        model = AssignmentRule
        fields = [
            "name",
            "active",
            "program",
            "region",
            "language",
            "priority",
            "organizations",
            "agents",
            "match_language",
            "match_program",
            "strategy",
            "response_window_hours",
            "on_expiry",
        ]
        widgets = {
            "strategy": forms.RadioSelect(attrs={"class": "usa-radio__input"}),
            "on_expiry": forms.RadioSelect(attrs={"class": "usa-radio__input"}),
        }
        help_texts = {
            "strategy": "Least loaded: the lowest share of the agent's case limit in use. "
            "Round robin: the agents of the pool in turn.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["response_window_hours"].widget.attrs.update({"min": 1, "max": 720})

    def clean_response_window_hours(self):
        hours = self.cleaned_data["response_window_hours"]
        if hours is None or not 1 <= hours <= 720:
            raise ValidationError("Give between 1 and 720 hours.")
        return hours

    def clean(self):
        data = super().clean()
        if not data.get("organizations") and not data.get("agents"):
            raise ValidationError("Choose at least one partner organization or partner agent.")
        return data

    def service_kwargs(self) -> dict:
        """Cleaned data in the shape of the rule services."""
        data = self.cleaned_data
        return {
            "organizations": list(data["organizations"]),
            "agents": list(data["agents"]),
            **{name: data[name] for name in RULE_FIELDS},
        }
