"""The partner directory's writes: profiles and the groups that follow them."""

import pytest
from django.contrib.auth.models import Group

from casesite.roles import Role, is_agency_user, is_partner_user
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import (
    organization_managers_group,
    partner_agent_save,
    partner_agent_sync_groups,
)
from tests.factories import PartnerOrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def group_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_saving_an_agent_creates_the_profile_and_the_partner_agent_group(northside):
    user = UserFactory(username="newagent")
    agent = partner_agent_save(
        user=user, organization=northside, languages=["en", "es"], programs=["SNAP"]
    )
    assert (agent.organization, agent.role, agent.languages, agent.programs) == (
        northside,
        PartnerAgent.Role.AGENT,
        ["en", "es"],
        ["SNAP"],
    )
    assert (agent.max_open_cases, agent.available) == (25, True)
    assert group_names(user) == {Role.PARTNER_AGENT}
    assert is_partner_user(user) and not is_agency_user(user)


def test_a_partner_manager_joins_the_manager_role_and_the_organizations_managers_group(
    northside,
):
    user = UserFactory(username="newmanager")
    partner_agent_save(user=user, organization=northside, role=PartnerAgent.Role.MANAGER)
    northside.refresh_from_db()
    assert group_names(user) == {Role.PARTNER_MANAGER, northside.managers_group.name}


def test_changing_role_or_organization_moves_the_user_between_groups(northside, harbor):
    user = UserFactory(username="mover")
    partner_agent_save(user=user, organization=northside, role=PartnerAgent.Role.MANAGER)
    partner_agent_save(user=user, organization=harbor, role=PartnerAgent.Role.MANAGER)
    harbor.refresh_from_db()
    assert group_names(user) == {Role.PARTNER_MANAGER, harbor.managers_group.name}
    partner_agent_save(user=user, organization=harbor, role=PartnerAgent.Role.AGENT)
    assert group_names(user) == {Role.PARTNER_AGENT}
    assert PartnerAgent.objects.filter(user=user).count() == 1


def test_saving_the_same_agent_again_changes_nothing(northside):
    user = UserFactory(username="same")
    first = partner_agent_save(user=user, organization=northside, role=PartnerAgent.Role.MANAGER)
    groups = group_names(user)
    second = partner_agent_save(user=user, organization=northside, role=PartnerAgent.Role.MANAGER)
    assert first.pk == second.pk and group_names(user) == groups
    assert Group.objects.filter(name__startswith="Partner managers of organization ").count() == 1


def test_syncing_groups_repairs_groups_changed_behind_its_back(northside, harbor):
    user = UserFactory(username="drift")
    agent = partner_agent_save(user=user, organization=northside)
    user.groups.add(
        Group.objects.get(name=Role.PARTNER_MANAGER), organization_managers_group(harbor)
    )
    partner_agent_sync_groups(agent=agent)
    assert group_names(user) == {Role.PARTNER_AGENT}


def test_syncing_groups_keeps_groups_that_are_not_partner_groups(northside):
    user = UserFactory(username="keeper")
    other = Group.objects.create(name="Newsletter readers")
    user.groups.add(other)
    partner_agent_save(user=user, organization=northside)
    assert group_names(user) == {Role.PARTNER_AGENT, "Newsletter readers"}


def test_each_organization_gets_one_managers_group_created_once():
    org = PartnerOrganizationFactory(name="Eastside Community Action")
    group = organization_managers_group(org)
    assert organization_managers_group(org) == group
    assert organization_managers_group(PartnerOrganization.objects.get(pk=org.pk)) == group
    assert PartnerOrganization.objects.get(pk=org.pk).managers_group == group
    assert group.name == f"Partner managers of organization {org.pk}"
    other = organization_managers_group(PartnerOrganizationFactory(name="Riverbend"))
    assert other != group
    assert not group.permissions.exists() and not other.permissions.exists()


def test_new_organizations_get_the_default_tabs():
    org = PartnerOrganization.objects.create(name="Metro Immigrant Legal Services")
    assert org.default_tabs == ["activities", "servicerequests", "notes"]
    assert org.active
