"""The partner directory's writes: profiles and the groups that follow them, calendars and
closures."""

from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from accounts.roles import Role, is_agency_user, is_partner_user
from partners.models import BusinessClosure, PartnerAgent, PartnerOrganization
from partners.services import (
    organization_calendar_update,
    organization_closure_add,
    organization_closure_remove,
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


# Business calendars and closures ------------------------------------------------------------

OREGON_OFFICE = {
    "time_zone": "America/Los_Angeles",
    "weekly_hours": {
        "mon": [["08:30", "12:00"], ["13:00", "16:30"]],
        "wed": [["08:30", "12:00"]],
        "sat": [["22:00", "24:00"]],
    },
    "holiday_country": "US",
    "holiday_subdivision": "OR",
    "default_response_hours": 24,
}


def test_new_organizations_get_a_new_york_weekday_calendar_with_us_holidays():
    org = PartnerOrganization.objects.create(name="Lakeside Tenants Union")
    assert (org.time_zone, org.holiday_country, org.holiday_subdivision) == (
        "America/New_York",
        "US",
        "",
    )
    assert org.weekly_hours == {
        day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
    }
    assert org.default_response_hours == 16


def test_updating_the_calendar_saves_the_calendar_fields_and_only_those(northside, admin_user):
    northside.name = "Renamed in memory only"
    organization_calendar_update(actor=admin_user, organization=northside, **OREGON_OFFICE)
    saved = PartnerOrganization.objects.get(pk=northside.pk)
    assert saved.name == "Northside Legal Aid"
    assert {field: getattr(saved, field) for field in OREGON_OFFICE} == OREGON_OFFICE


def test_the_holiday_country_is_upper_cased_and_both_codes_are_trimmed(northside, admin_user):
    values = OREGON_OFFICE | {"holiday_country": " us ", "holiday_subdivision": " OR "}
    organization_calendar_update(actor=admin_user, organization=northside, **values)
    northside.refresh_from_db()
    assert (northside.holiday_country, northside.holiday_subdivision) == ("US", "OR")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone", "not an IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone", "not an IANA time zone"),
        ({"time_zone": ""}, "time_zone", "cannot be blank"),
        ({"weekly_hours": {}}, "weekly_hours", "cannot be blank"),
        ({"weekly_hours": {"mon": []}}, "weekly_hours", "at least one open interval"),
        ({"weekly_hours": [["09:00", "17:00"]]}, "weekly_hours", "must map weekdays"),
        ({"weekly_hours": {"monday": [["09:00", "17:00"]]}}, "weekly_hours", "Unknown weekday"),
        ({"weekly_hours": {"mon": ["09:00", "17:00"]}}, "weekly_hours", "not a pair"),
        ({"weekly_hours": {"mon": [["9am", "5pm"]]}}, "weekly_hours", "not a pair"),
        ({"weekly_hours": {"mon": [["09:00", "25:00"]]}}, "weekly_hours", "not a pair"),
        ({"weekly_hours": {"mon": [["09:00"]]}}, "weekly_hours", "not a pair"),
        ({"weekly_hours": {"mon": [["17:00", "09:00"]]}}, "weekly_hours", "start before it ends"),
        ({"weekly_hours": {"mon": [["09:00", "09:00"]]}}, "weekly_hours", "start before it ends"),
        ({"weekly_hours": {"mon": [["24:00", "24:00"]]}}, "weekly_hours", "start before it ends"),
        (
            {"weekly_hours": {"tue": [["13:00", "17:00"], ["09:00", "13:30"]]}},
            "weekly_hours",
            "overlap at 13:00-13:30",
        ),
        ({"holiday_country": "XX"}, "holiday_country", "not a country code"),
        ({"holiday_subdivision": "ZZ"}, "holiday_subdivision", "not a subdivision of US"),
        (
            {"holiday_country": "", "holiday_subdivision": "OR"},
            "holiday_subdivision",
            "needs a holiday country",
        ),
        ({"default_response_hours": 0}, "__all__", "at least one hour"),
        ({"default_response_hours": -4}, "default_response_hours", "greater than or equal to 0"),
    ],
)
def test_a_bad_calendar_is_refused_by_field_and_nothing_changes(
    northside, admin_user, change, field, message
):
    before = {field: getattr(northside, field) for field in OREGON_OFFICE}
    with pytest.raises(ValidationError) as raised:
        organization_calendar_update(
            actor=admin_user, organization=northside, **(OREGON_OFFICE | change)
        )
    assert message in " ".join(raised.value.message_dict[field])
    assert {field: getattr(northside, field) for field in OREGON_OFFICE} == before
    northside.refresh_from_db()
    assert {field: getattr(northside, field) for field in OREGON_OFFICE} == before


def test_a_blank_holiday_country_means_no_public_holidays(northside, admin_user):
    values = OREGON_OFFICE | {"holiday_country": "", "holiday_subdivision": ""}
    organization_calendar_update(actor=admin_user, organization=northside, **values)
    northside.refresh_from_db()
    assert northside.holiday_country == ""


def test_closures_are_added_trimmed_and_listed_by_start(northside, admin_user):
    later = organization_closure_add(
        actor=admin_user,
        organization=northside,
        starts_on=date(2026, 12, 24),
        ends_on=date(2026, 12, 31),
        reason="  Winter break ",
    )
    sooner = organization_closure_add(
        actor=admin_user,
        organization=northside,
        starts_on=date(2026, 8, 3),
        ends_on=date(2026, 8, 3),
        reason="Staff retreat",
    )
    assert list(northside.closures.all()) == [sooner, later]
    assert later.reason == "Winter break"


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "reason", "field", "message"),
    [
        (date(2026, 8, 4), date(2026, 8, 3), "Retreat", "__all__", "cannot end before it starts"),
        (date(2026, 8, 3), date(2026, 8, 4), "   ", "reason", "cannot be blank"),
        (date(2026, 8, 3), date(2026, 8, 4), "x" * 201, "reason", "at most 200 characters"),
    ],
)
def test_a_bad_closure_is_refused(
    northside, admin_user, starts_on, ends_on, reason, field, message
):
    with pytest.raises(ValidationError) as raised:
        organization_closure_add(
            actor=admin_user,
            organization=northside,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason,
        )
    assert message in " ".join(raised.value.message_dict[field])
    assert not northside.closures.exists()


def test_removing_a_closure_deletes_only_that_closure(northside, harbor, admin_user):
    def close(organization):
        return organization_closure_add(
            actor=admin_user,
            organization=organization,
            starts_on=date(2026, 8, 3),
            ends_on=date(2026, 8, 7),
            reason="Moving offices",
        )

    gone, kept = close(northside), close(harbor)
    organization_closure_remove(actor=admin_user, closure=gone)
    assert list(BusinessClosure.objects.all()) == [kept]


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (PartnerOrganization, {"name": "Zero Hours", "default_response_hours": 0}),
        (
            BusinessClosure,
            {"starts_on": date(2026, 8, 4), "ends_on": date(2026, 8, 3), "reason": "Backwards"},
        ),
    ],
)
def test_the_database_refuses_what_the_services_refuse(northside, model, values):
    if model is BusinessClosure:
        values = values | {"organization": northside}
    with pytest.raises(IntegrityError):
        model.objects.create(**values)
