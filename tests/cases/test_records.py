"""The record kinds are declared once (cases.records); every page, permission and service
that deals with a kind reads that table, so a kind missing anywhere fails here."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.template.loader import get_template

from accounts.roles import Role
from cases import permissions
from cases.models import Case, CaseRecord
from cases.records import KINDS, RECORD_KINDS, Tab, kind_of
from cases.roles import ROLE_PERMISSIONS
from cases.views import TABS_BY_SLUG
from portal.views import PORTAL_RECORDS

from ..factories import make_case


def test_each_kind_is_a_case_record_model_with_its_fields_form_and_template():
    for kind in RECORD_KINDS:
        assert issubclass(kind.model, CaseRecord), kind.slug
        model_fields = {field.name for field in kind.model._meta.get_fields()}
        assert set(kind.fields) <= model_fields, kind.slug
        form_fields = set(kind.form_class.base_fields)
        assert set(kind.fields) - {"description"} <= form_fields | {"file"}, kind.slug
        assert "shared_with_partners" in form_fields, kind.slug
        get_template(kind.template)
        assert kind.model in admin.site._registry, kind.slug


def test_each_kind_is_a_tab_of_both_case_pages_and_a_partner_permission_on_the_case():
    assert [(choice.value, choice.label) for choice in Tab] == [
        (kind.slug, kind.label) for kind in RECORD_KINDS
    ]
    declared = {codename for codename, _ in Case._meta.permissions}
    for kind in RECORD_KINDS:
        assert TABS_BY_SLUG[kind.slug].label == kind.label
        assert kind.permission in declared
        assert kind.permission in permissions.PARTNER_CODENAMES
        get_template(PORTAL_RECORDS[kind.slug].template)
    assert set(PORTAL_RECORDS) == set(KINDS)
    assert [tab.slug for tab in permissions.PORTAL_TABS] == [kind.slug for kind in RECORD_KINDS]


@pytest.mark.django_db
def test_the_tab_permissions_exist_in_the_database():
    codenames = set(
        Permission.objects.filter(content_type__app_label="cases").values_list(
            "codename", flat=True
        )
    )
    assert {kind.permission for kind in RECORD_KINDS} <= codenames


def test_agency_staff_hold_view_add_and_change_of_every_kind_and_partners_none():
    for role in (Role.AGENCY_CASEWORKER, Role.AGENCY_MANAGER):
        for kind in RECORD_KINDS:
            for action in ("view", "add", "change"):
                assert kind.model_permission(action) in ROLE_PERMISSIONS[role], (role, kind)
    assert ROLE_PERMISSIONS[Role.PARTNER_AGENT] == ROLE_PERMISSIONS[Role.PARTNER_MANAGER] == ()


@pytest.mark.django_db
def test_a_record_knows_its_kind(caseworker):
    case = make_case()
    for kind in RECORD_KINDS:
        record = kind.model(case=case, author=caseworker)
        assert kind_of(record) is kind


def test_the_add_form_titles_read_naturally():
    assert [kind.add_label for kind in RECORD_KINDS] == [
        "Add an Activity",
        "Add an Attachment",
        "Add a Service Request",
        "Add a Note",
    ]
