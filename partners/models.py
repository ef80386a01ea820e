"""The partner directory: organizations the agency contracts with, and their agents.

This app knows nothing of cases; `cases` uses it.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from accounts.people import display_name
from casesite.clock import StampField

from .calendar import (
    WEEKDAYS,
    check_holiday_country,
    check_holiday_subdivision,
    parse_weekly_hours,
    zone_for,
)


def default_tabs() -> list[str]:
    """The case tabs an organization's agents open unless it says otherwise: Activities,
    Service Requests and Notes (the tabs themselves are the cases app's record kinds)."""
    return ["activities", "servicerequests", "notes"]


def default_weekly_hours() -> dict[str, list[list[str]]]:
    """Monday to Friday, 09:00 to 17:00."""
    return {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]}


def validate_time_zone(value: str) -> None:
    try:
        zone_for(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid_time_zone") from None


def validate_weekly_hours(value: object) -> None:
    try:
        parse_weekly_hours(value)
    except ValueError as error:
        raise ValidationError(str(error), code="invalid_weekly_hours") from None


class PartnerOrganization(models.Model):
    """A predefined third-party provider the agency refers cases to."""

    class Kind(models.TextChoices):
        LAW_FIRM = "law_firm", "Law firm"
        SERVICE_PROVIDER = "service_provider", "Service provider"
        GOVERNMENT_AGENCY = "government_agency", "Government agency"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.SERVICE_PROVIDER)
    programs_served = models.JSONField(default=list, blank=True, help_text="Program codes.")
    service_areas = models.JSONField(default=list, blank=True, help_text="Regions served.")
    languages = models.JSONField(default=list, blank=True, help_text="Language codes.")
    active = models.BooleanField(default=True)
    default_tabs = models.JSONField(
        default=default_tabs,
        blank=True,
        help_text="Tabs its agents may open on a referred case, unless the agency decides.",
    )
    managers_group = models.OneToOneField(
        "auth.Group",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="managed_organization",
        help_text="Holds the object permissions of this organization's partner managers.",
    )
    created_at = StampField(auto_now_add=True)

    # Its business calendar: every referral deadline is counted in these hours (partners.calendar).
    time_zone = models.CharField(
        max_length=64,
        default="America/New_York",
        validators=[validate_time_zone],
        help_text="IANA time zone name, e.g. America/Los_Angeles.",
    )
    weekly_hours = models.JSONField(
        default=default_weekly_hours,
        validators=[validate_weekly_hours],
        help_text='Open hours in local time, e.g. {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}'
        "; a weekday left out is closed.",
    )
    holiday_country = models.CharField(
        max_length=3,
        blank=True,
        default="US",
        help_text="Country whose public holidays are closed days, e.g. US; blank for none.",
    )
    holiday_subdivision = models.CharField(
        max_length=20,
        blank=True,
        help_text="State or province whose holidays are closed days too, e.g. OR.",
    )
    default_response_hours = models.PositiveIntegerField(
        "Default response window (business hours)", default=16
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_response_hours__gte=1),
                name="partnerorganization_response_hours_min_1",
                violation_error_message="The default response window is at least one hour.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        errors = {}
        try:
            check_holiday_country(self.holiday_country)
        except ValueError as error:
            errors["holiday_country"] = str(error)
        try:
            check_holiday_subdivision(self.holiday_country, self.holiday_subdivision)
        except ValueError as error:
            errors["holiday_subdivision"] = str(error)
        if errors:
            raise ValidationError(errors)


class PartnerAgent(models.Model):
    """A user who works for one partner organization, in the Partner Portal only."""

    class Role(models.TextChoices):
        AGENT = "agent", "Partner agent"
        MANAGER = "manager", "Partner manager"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_agent"
    )
    organization = models.ForeignKey(
        PartnerOrganization, on_delete=models.PROTECT, related_name="agents"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    languages = models.JSONField(default=list, blank=True)
    programs = models.JSONField(default=list, blank=True)
    max_open_cases = models.PositiveIntegerField(default=25)
    available = models.BooleanField(default=True)
    notices_from = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The earliest end of an access of the agent (for a manager, of the "
        "organization's agents) still on the team: from then My Cases looks for notices.",
    )
    notices_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="My Cases looks for notices of ended access until then (kept by the case "
        "services when an access of the agent, or for a manager of the organization, ends).",
    )

    class Meta:
        ordering = ["organization__name", "user__username"]
        indexes = [models.Index(fields=["organization", "role"], name="partneragent_org_role")]

    def __str__(self) -> str:
        return f"{display_name(self.user)} ({self.organization})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


class BusinessClosure(models.Model):
    """Whole days an organization is closed besides public holidays (a move, a retreat, a
    storm): no deadline runs on them. Dates are days of the organization's time zone."""

    organization = models.ForeignKey(
        PartnerOrganization, on_delete=models.CASCADE, related_name="closures"
    )
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="The last closed day (inclusive).")
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="businessclosure_ends_on_not_before_starts_on",
                violation_error_message="A closure cannot end before it starts.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization} closed {self.starts_on} to {self.ends_on}: {self.reason}"
