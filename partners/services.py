"""Writes for the partner directory."""

from datetime import date
from typing import cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.roles import Role

from .models import BusinessClosure, PartnerAgent, PartnerOrganization

CALENDAR_FIELDS = (
    "time_zone",
    "weekly_hours",
    "holiday_country",
    "holiday_subdivision",
    "default_response_hours",
)


def organization_managers_group(organization: PartnerOrganization) -> Group:
    """The group that holds an organization's object grants for its partner managers."""
    if organization.managers_group_id:
        return cast(Group, organization.managers_group)
    group, _ = Group.objects.get_or_create(
        name=f"Partner managers of organization {organization.pk}"
    )
    PartnerOrganization.objects.filter(pk=organization.pk).update(managers_group=group)
    organization.managers_group = group
    return group


@transaction.atomic
def partner_agent_save(
    *,
    user: User,
    organization: PartnerOrganization,
    role: str = PartnerAgent.Role.AGENT,
    languages: list[str] | None = None,
    programs: list[str] | None = None,
    max_open_cases: int = 25,
    available: bool = True,
) -> PartnerAgent:
    """Create or update a user's partner agent profile and keep the role groups in step:
    the Partner Agent or Partner Manager group, and the organization's managers group."""
    agent, _ = PartnerAgent.objects.update_or_create(
        user=user,
        defaults={
            "organization": organization,
            "role": role,
            "languages": languages or [],
            "programs": programs or [],
            "max_open_cases": max_open_cases,
            "available": available,
        },
    )
    partner_agent_sync_groups(agent=agent)
    return agent


def partner_agent_sync_groups(*, agent: PartnerAgent) -> None:
    user = agent.user
    role_groups = {
        name: Group.objects.get_or_create(name=name)[0]
        for name in (Role.PARTNER_AGENT, Role.PARTNER_MANAGER)
    }
    managers = Group.objects.filter(name__startswith="Partner managers of organization ")
    user.groups.remove(*role_groups.values(), *managers)
    if agent.role == PartnerAgent.Role.MANAGER:
        user.groups.add(
            role_groups[Role.PARTNER_MANAGER], organization_managers_group(agent.organization)
        )
    else:
        user.groups.add(role_groups[Role.PARTNER_AGENT])


@transaction.atomic
def organization_calendar_update(
    *,
    actor: AbstractBaseUser,
    organization: PartnerOrganization,
    time_zone: str,
    weekly_hours: dict[str, list[list[str]]],
    holiday_country: str,
    holiday_subdivision: str,
    default_response_hours: int,
) -> PartnerOrganization:
    """Replace an organization's business calendar (not its closures). Deadlines already
    computed keep their dates; new ones count in the new hours.

    Raises ValidationError by field on bad values, leaving `organization` as it was."""
    values = {
        "time_zone": time_zone.strip(),
        "weekly_hours": weekly_hours,
        "holiday_country": holiday_country.strip().upper(),
        # Not upper-cased: some subdivisions are names ("NSW Western" in Australia).
        "holiday_subdivision": holiday_subdivision.strip(),
        "default_response_hours": default_response_hours,
    }
    previous = {field: getattr(organization, field) for field in CALENDAR_FIELDS}
    for field, value in values.items():
        setattr(organization, field, value)
    other_fields = [
        field.name for field in organization._meta.fields if field.name not in CALENDAR_FIELDS
    ]
    try:
        organization.full_clean(exclude=other_fields, validate_unique=False)
    except ValidationError:
        for field, value in previous.items():
            setattr(organization, field, value)
        raise
    organization.save(update_fields=CALENDAR_FIELDS)
    return organization


@transaction.atomic
def organization_closure_add(
    *,
    actor: AbstractBaseUser,
    organization: PartnerOrganization,
    starts_on: date,
    ends_on: date,
    reason: str,
) -> BusinessClosure:
    """Close an organization for whole days, `starts_on` to `ends_on` inclusive: deadlines
    computed from now on skip them. Raises ValidationError on bad values."""
    closure = BusinessClosure(
        organization=organization, starts_on=starts_on, ends_on=ends_on, reason=reason.strip()
    )
    closure.full_clean()
    closure.save()
    return closure


@transaction.atomic
def organization_closure_remove(*, actor: AbstractBaseUser, closure: BusinessClosure) -> None:
    """Reopen the days of a closure for deadlines computed from now on."""
    closure.delete()
