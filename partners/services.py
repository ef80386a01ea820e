"""Writes for the partner directory."""

from django.contrib.auth.models import Group
from django.db import transaction

from casesite.roles import Role

from .models import PartnerAgent, PartnerOrganization


def organization_managers_group(organization: PartnerOrganization) -> Group:
    """The group that holds an organization's object grants for its partner managers."""
    if organization.managers_group_id:
        return organization.managers_group
    group, _ = Group.objects.get_or_create(
        name=f"Partner managers of organization {organization.pk}"
    )
    PartnerOrganization.objects.filter(pk=organization.pk).update(managers_group=group)
    organization.managers_group = group
    return group


@transaction.atomic
def partner_agent_save(
    *,
    user,
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
