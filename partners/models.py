"""The partner directory: organizations the agency contracts with, and their agents.

This app knows nothing of cases; `cases` uses it.
"""

from django.conf import settings
from django.db import models


class Tab(models.TextChoices):
    """Case view tabs a partner may be authorized to open (besides the case details)."""

    ACTIVITIES = "activities", "Activities"
    ATTACHMENTS = "attachments", "Attachments"
    SERVICE_REQUESTS = "servicerequests", "Service Requests"
    NOTES = "notes", "Notes"


def default_tabs() -> list[str]:
    return [Tab.ACTIVITIES, Tab.SERVICE_REQUESTS, Tab.NOTES]


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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

    class Meta:
        ordering = ["organization__name", "user__username"]
        indexes = [models.Index(fields=["organization", "role"], name="partneragent_org_role")]

    def __str__(self) -> str:
        return f"{self.user.get_full_name() or self.user.get_username()} ({self.organization})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER
