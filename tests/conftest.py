"""Named people of the test suite, one fixture each (see SECURITY.md, Roles)."""

import pytest

from accounts.roles import Role
from partners.models import PartnerAgent

# One Chromium for the whole run, shared by tests/browser and tests/security.
from .browsing import browser, chromium_path, page, pytest_runtest_makereport  # noqa: F401
from .factories import PASSWORD, PartnerAgentFactory, PartnerOrganizationFactory, UserFactory


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def northside(db):
    return PartnerOrganizationFactory(name="Northside Legal Aid")


@pytest.fixture
def harbor(db):
    return PartnerOrganizationFactory(name="Harbor Family Services")


@pytest.fixture
def agency_manager(db):
    return UserFactory(username="am", roles=[Role.AGENCY_MANAGER])


@pytest.fixture
def caseworker(db):
    return UserFactory(username="ag", roles=[Role.AGENCY_CASEWORKER])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="adm", is_staff=True, is_superuser=True)


@pytest.fixture
def partner_agent(northside):
    """PA: the partner agent who will be on the case team."""
    return PartnerAgentFactory(user=UserFactory(username="pa"), organization=northside).user


@pytest.fixture
def partner_colleague(northside):
    """PB: another agent of PA's organization, not on the team."""
    return PartnerAgentFactory(user=UserFactory(username="pb"), organization=northside).user


@pytest.fixture
def outsider(harbor):
    """PC: an agent of another organization."""
    return PartnerAgentFactory(user=UserFactory(username="pc"), organization=harbor).user


@pytest.fixture
def partner_manager(northside):
    """PM: partner manager of PA's organization."""
    return PartnerAgentFactory(
        user=UserFactory(username="pm"), organization=northside, role=PartnerAgent.Role.MANAGER
    ).user
