"""Object permissions of the Partner Portal and the model-level permissions of each role."""

import pytest
from django.contrib.auth.models import Group, Permission
from guardian.models import GroupObjectPermission, UserObjectPermission

from accounts.roles import Role
from cases import permissions
from cases.models import Case, CaseGroupObjectPermission, CaseUserObjectPermission
from cases.records import Tab
from cases.roles import ROLE_PERMISSIONS, sync_roles
from partners.services import organization_managers_group
from tests.factories import make_case, make_referral

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

WORKFLOW = {"approve_case", "deny_case", "refer_case", "recall_case", "close_case", "reopen_case"}


def user_codenames(user, case) -> set[str]:
    return set(
        CaseUserObjectPermission.objects.filter(user=user, content_object=case).values_list(
            "permission__codename", flat=True
        )
    )


def test_the_partner_codenames_are_the_case_the_work_and_one_per_tab():
    assert set(permissions.PARTNER_CODENAMES) == {
        "view_case",
        "work_case",
        "view_case_activities",
        "view_case_attachments",
        "view_case_servicerequests",
        "view_case_notes",
    }
    assert [(t.slug, t.label) for t in permissions.PORTAL_TABS] == [
        ("activities", "Activities"),
        ("attachments", "Attachments"),
        ("servicerequests", "Service Requests"),
        ("notes", "Notes"),
    ]
    # The tabs come from the partners' Tab choices, one permission each.
    assert {t.slug for t in permissions.PORTAL_TABS} == set(Tab.values)


def test_codenames_for_tabs_ignore_unknown_tabs():
    assert permissions.codenames_for_tabs(["notes", "events", "../admin"]) == [
        "view_case",
        "work_case",
        "view_case_notes",
    ]
    assert permissions.codenames_for_tabs([]) == ["view_case", "work_case"]


def test_granting_again_with_other_tabs_leaves_exactly_the_new_set(partner_agent):
    case = make_case(status=Case.Status.THIRD_PARTY)
    permissions.grant_partner_agent(user=partner_agent, case=case, tabs=list(Tab.values))
    assert user_codenames(partner_agent, case) == set(permissions.PARTNER_CODENAMES)
    permissions.grant_partner_agent(user=partner_agent, case=case, tabs=["notes"])
    assert user_codenames(partner_agent, case) == {"view_case", "work_case", "view_case_notes"}
    permissions.revoke_partner_agent(user=partner_agent, case=case)
    assert user_codenames(partner_agent, case) == set()


def test_grants_use_guardians_direct_foreign_key_tables_only(partner_agent, partner_manager):
    case, _ = make_referral(agent_user=partner_agent)
    assert CaseUserObjectPermission.objects.filter(user=partner_agent, content_object=case).exists()
    assert CaseGroupObjectPermission.objects.filter(content_object=case).exists()
    assert not UserObjectPermission.objects.exists()
    assert not GroupObjectPermission.objects.exists()


def test_organization_managers_get_the_union_of_tabs_and_nothing_when_none_is_left(
    northside, partner_manager
):
    case = make_case(status=Case.Status.THIRD_PARTY)
    permissions.sync_organization_managers(
        organization=northside, case=case, tabs=["notes", "activities"]
    )
    group = organization_managers_group(northside)
    granted = set(
        CaseGroupObjectPermission.objects.filter(group=group, content_object=case).values_list(
            "permission__codename", flat=True
        )
    )
    assert granted == {"view_case", "work_case", "view_case_notes", "view_case_activities"}
    assert partner_manager.has_perm("cases.view_case_notes", case)
    permissions.sync_organization_managers(organization=northside, case=case, tabs=None)
    assert not CaseGroupObjectPermission.objects.filter(group=group).exists()
    assert not partner_manager.has_perm("cases.view_case", case)


def test_visible_tabs_follow_the_grants_in_display_order(partner_agent):
    case, _ = make_referral(agent_user=partner_agent, tabs=["notes", "activities"])
    assert [t.label for t in permissions.visible_tabs(user=partner_agent, case=case)] == [
        "Activities",
        "Notes",
    ]


def test_visible_tabs_cost_the_same_two_queries_whatever_is_granted(
    partner_agent, django_assert_num_queries
):
    # One checker: the user's own grants and the grants of the user's groups.
    case, _ = make_referral(agent_user=partner_agent, tabs=list(Tab.values))
    other, _ = make_referral(agent_user=partner_agent, tabs=[])
    for target in (case, other):
        with django_assert_num_queries(2):
            permissions.visible_tabs(user=partner_agent, case=target)


# Model-level permissions of the roles ------------------------------------------------------


def group_codenames(name: str) -> set[str]:
    return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))


def test_partner_groups_hold_no_model_level_permission_at_all(partner_agent, partner_manager):
    sync_roles()
    assert ROLE_PERMISSIONS[Role.PARTNER_AGENT] == ROLE_PERMISSIONS[Role.PARTNER_MANAGER] == ()
    for name in Role.PARTNER:
        assert group_codenames(name) == set(), name
    # Nor the per-organization groups that carry the managers' object grants.
    for group in Group.objects.filter(name__startswith="Partner managers of organization "):
        assert not group.permissions.exists(), group.name
    for user in (partner_agent, partner_manager):
        assert user.get_all_permissions() == set()
        assert not user.user_permissions.exists()


def test_only_agency_managers_hold_the_approve_deny_refer_and_recall_permissions():
    sync_roles()
    manager = group_codenames(Role.AGENCY_MANAGER)
    caseworker = group_codenames(Role.AGENCY_CASEWORKER)
    assert manager >= WORKFLOW
    assert WORKFLOW & caseworker == {"close_case", "reopen_case"}
    # The tab and work permissions are object permissions only, never model-level.
    object_only = set(permissions.PARTNER_CODENAMES) - {"view_case"}
    assert not (object_only & manager) and not (object_only & caseworker)
    holders = Permission.objects.filter(codename__in=object_only, group__isnull=False)
    assert not holders.exists()


def test_syncing_the_roles_is_idempotent_and_repairs_drift():
    sync_roles()
    before = {name: group_codenames(name) for name in Role.ALL}
    extra = Permission.objects.get(codename="approve_case")
    Group.objects.get(name=Role.PARTNER_AGENT).permissions.add(extra)
    Group.objects.get(name=Role.AGENCY_CASEWORKER).permissions.add(extra)
    sync_roles()
    sync_roles()
    assert {name: group_codenames(name) for name in Role.ALL} == before
