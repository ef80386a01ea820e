"""Django admin over the demo data: every page loads, every write goes through the same
service as the agency UI (History shows it with its actor), the invariants hold, events are
read-only and nothing with a history is deleted."""

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import ProtectedError
from django.urls import reverse

from accounts.roles import Role
from cases.models import (
    AssignmentRule,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Note,
    Program,
)
from partners.models import PartnerOrganization
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Status = Case.Status
REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def admin_client(client, demo):
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(response) -> dict:
    """What the browser would post back from an admin change form, unchanged."""
    data: dict = {}

    def add(form):
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif isinstance(value, (list, tuple)):
                data[key] = [str(v) for v in value]
            elif value is not None:
                data[key] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def partner_rows(data: dict) -> list[str]:
    """The prefixes of the Partners inline rows in the posted form."""
    total = int(data["case_partners-TOTAL_FORMS"])
    return [f"case_partners-{n}" for n in range(total)]


# Every page loads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "model_admin"), REGISTERED, ids=lambda v: getattr(v, "__name__", "")
)
def test_every_admin_page_loads_for_the_superuser(admin_client, model, model_admin):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    if model_admin.search_fields:
        assert admin_client.get(url(model, "changelist"), {"q": "Household"}).status_code == 200
    obj = model._default_manager.order_by("pk").last()
    if obj is not None:
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    if model_admin.has_add_permission(response.wsgi_request):
        assert admin_client.get(url(model, "add")).status_code == 200


def test_the_demo_models_all_have_rows_to_show(demo):
    for model in (Case, CaseEvent, CasePartner, PartnerOrganization):
        assert model._default_manager.exists(), model.__name__


def test_searching_the_cases_finds_a_demo_case_by_number_and_applicant(admin_client):
    case = Case.objects.get(number="CASE-2026-000001")
    for query in (case.number, case.applicant_name.split()[-1]):
        response = admin_client.get(url(Case, "changelist"), {"q": query})
        assert case in response.context["cl"].result_list


# Status changes through the FSM service ----------------------------------------------------


def open_case() -> Case:
    return Case.objects.filter(status=Status.OPEN).order_by("number").first()


def test_the_status_is_read_only_on_the_case_form(admin_client):
    case = open_case()
    response = admin_client.get(url(Case, "change", case.pk))
    assert "status" not in response.context["adminform"].form.fields
    data = {**form_data(response), "status": Status.CLOSED, "_save": "Save"}
    admin_client.post(url(Case, "change", case.pk), data)
    assert Case.objects.get(pk=case.pk).status == Status.OPEN


def test_a_transition_fired_from_the_admin_goes_through_the_case_service(admin_client):
    case = open_case()
    response = admin_client.get(url(Case, "change", case.pk))
    html = response.content.decode()
    assert 'name="_fsm_transition_to"' in html and 'value="approve"' in html
    before = set(case.events.values_list("pk", flat=True))
    data = {**form_data(response), "_fsm_transition_to": "approve"}
    response = admin_client.post(url(Case, "change", case.pk), data, follow=True)
    assert response.status_code == 200
    assert Case.objects.get(pk=case.pk).status == Status.APPROVED
    [event] = case.events.exclude(pk__in=before)
    assert event.verb == CaseEvent.Verb.TRANSITION
    assert (event.actor.username, event.data["transition"]) == ("admin", "approve")
    assert "Approve: done." in [str(m) for m in response.context["messages"]]
    # Django's admin log records the change as well.
    assert LogEntry.objects.filter(object_id=str(case.pk), user__username="admin").exists()


def test_a_staff_user_without_the_permission_cannot_fire_a_transition_from_the_admin(client, demo):
    staff = UserFactory(username="staff-caseworker", is_staff=True, roles=[Role.AGENCY_CASEWORKER])
    client.force_login(staff)
    case = open_case()
    response = client.get(url(Case, "change", case.pk))
    assert response.status_code == 200
    before = case.events.count()
    data = {**form_data(response), "_fsm_transition_to": "approve"}
    response = client.post(url(Case, "change", case.pk), data, follow=True)
    assert Case.objects.get(pk=case.pk).status == Status.OPEN
    assert case.events.count() == before
    assert "You may not do that." in [str(m) for m in response.context["messages"]]


def test_a_transition_not_allowed_from_the_state_is_refused_with_a_message(admin_client):
    case = Case.objects.filter(status=Status.CLOSED).first()
    response = admin_client.get(url(Case, "change", case.pk))
    before = case.events.count()
    data = {**form_data(response), "_fsm_transition_to": "approve"}
    admin_client.post(url(Case, "change", case.pk), data, follow=True)
    assert Case.objects.get(pk=case.pk).status == Status.CLOSED
    assert case.events.count() == before


# The primary rule holds in the admin inline ------------------------------------------------


def case_with_two_partners() -> Case:
    """A demo case with Northside Primary and a second, older-or-newer partner."""
    return next(case for case in Case.objects.all() if case.case_partners.count() >= 2)


@pytest.mark.parametrize("primaries", [0, 2])
def test_the_partners_inline_rejects_zero_or_two_primaries(admin_client, primaries):
    case = case_with_two_partners()
    before = list(case.case_partners.values_list("partner_id", "is_primary"))
    response = admin_client.get(url(Case, "change", case.pk))
    data = form_data(response)
    for index, prefix in enumerate(partner_rows(data)):
        data.pop(f"{prefix}-is_primary", None)
        if index < primaries:
            data[f"{prefix}-is_primary"] = "on"
    response = admin_client.post(url(Case, "change", case.pk), {**data, "_save": "Save"})
    assert response.status_code == 200  # the form again, with the error
    assert "Exactly one partner must be Primary." in response.content.decode()
    assert list(case.case_partners.values_list("partner_id", "is_primary")) == before


def test_the_partners_inline_moves_the_primary_either_way_and_logs_it(admin_client):
    case = case_with_two_partners()
    for _ in range(2):  # to the other partner, then back: whichever row comes first
        current = case.case_partners.get(is_primary=True).partner_id
        response = admin_client.get(url(Case, "change", case.pk))
        data = form_data(response)
        rows = partner_rows(data)
        for prefix in rows:
            data.pop(f"{prefix}-is_primary", None)
        chosen = next(p for p in rows if int(data[f"{p}-partner"]) != current)
        data[f"{chosen}-is_primary"] = "on"
        response = admin_client.post(url(Case, "change", case.pk), {**data, "_save": "Save"})
        assert response.status_code == 302, response.context and response.context["errors"]
        assert case.case_partners.filter(is_primary=True).count() == 1
        assert case.case_partners.get(is_primary=True).partner_id != current
    assert LogEntry.objects.filter(object_id=str(case.pk)).count() >= 2


def test_a_partner_added_in_the_inline_can_become_the_primary(admin_client):
    case = case_with_two_partners()
    taken = set(case.case_partners.values_list("partner_id", flat=True))
    newcomer = PartnerOrganization.objects.filter(active=True).exclude(pk__in=taken).first()
    response = admin_client.get(url(Case, "change", case.pk))
    data = form_data(response)
    rows = partner_rows(data)
    for prefix in rows:
        data.pop(f"{prefix}-is_primary", None)
    new = f"case_partners-{len(rows)}"
    data.update(
        {
            "case_partners-TOTAL_FORMS": str(len(rows) + 1),
            f"{new}-partner": str(newcomer.pk),
            f"{new}-is_primary": "on",
            f"{new}-case": str(case.pk),
            "_save": "Save",
        }
    )
    response = admin_client.post(url(Case, "change", case.pk), data)
    assert response.status_code == 302
    assert case.case_partners.get(is_primary=True).partner == newcomer
    assert case.case_partners.count() == len(rows) + 1


# Case events are read-only -----------------------------------------------------------------


def test_case_events_are_read_only_in_the_admin(admin_client):
    event = CaseEvent.objects.order_by("pk").first()
    assert admin_client.get(url(CaseEvent, "add")).status_code == 403
    assert admin_client.get(url(CaseEvent, "delete", event.pk)).status_code == 403
    response = admin_client.get(url(CaseEvent, "change", event.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert 'name="_save"' not in response.content.decode()
    assert (
        admin_client.post(url(CaseEvent, "change", event.pk), {"verb": "declined"}).status_code
        == 403
    )
    response = admin_client.get(url(CaseEvent, "changelist"))
    assert "delete_selected" not in response.context["cl"].model_admin.get_actions(
        response.wsgi_request
    )
    response = admin_client.post(
        url(CaseEvent, "changelist"), {"action": "delete_selected", "_selected_action": [event.pk]}
    )
    assert CaseEvent.objects.filter(pk=event.pk).exists()
    assert CaseEvent.objects.get(pk=event.pk).verb == event.verb


def test_the_case_team_and_events_cannot_be_added_or_deleted_in_the_admin(admin_client):
    from cases.models import CaseTeamMember

    member = CaseTeamMember.objects.order_by("pk").first()
    assert admin_client.get(url(CaseTeamMember, "add")).status_code == 403
    assert admin_client.get(url(CaseTeamMember, "delete", member.pk)).status_code == 403
    assert admin_client.get(url(CasePartner, "add")).status_code == 403


def test_the_case_team_changelist_lists_the_newest_rows_first(admin_client):
    response = admin_client.get(url(CaseTeamMember, "changelist"))
    shown = [row.pk for row in response.context["cl"].result_list]
    newest = list(CaseTeamMember.objects.order_by("-pk").values_list("pk", flat=True))
    assert len(shown) > 1
    assert shown == newest[: len(shown)]


# Admin writes go through the services: History shows them with their actor --------------------


def history(case, verb):
    return CaseEvent.objects.filter(case=case, verb=verb).order_by("-pk")


def test_a_case_created_primary_changed_and_record_unshared_in_the_admin_are_in_history(
    admin_client,
):
    admin = get_user_model().objects.get(username="admin")
    owner = get_user_model().objects.get(username="manager")
    program = Program.objects.order_by("pk").first()
    data = form_data(admin_client.get(url(Case, "add")))
    data.update(
        {
            "owner": str(owner.pk),
            "name": "Household opened in the admin",
            "program": str(program.pk),
            "applicant_name": "Ada Admin",
            "_save": "Save",
        }
    )
    response = admin_client.post(url(Case, "add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    case = Case.objects.get(name="Household opened in the admin")
    assert case.number.startswith("CASE-")
    created = history(case, CaseEvent.Verb.CREATED).get()
    assert created.actor == admin
    assert case.team.filter(user=owner, role=CaseTeamMember.Role.OWNER).exists()

    # Primary moved in the Partners inline: a PARTNER_PRIMARY event by the admin.
    linked = case_with_two_partners()
    current = linked.case_partners.get(is_primary=True).partner_id
    data = form_data(admin_client.get(url(Case, "change", linked.pk)))
    rows = partner_rows(data)
    for prefix in rows:
        data.pop(f"{prefix}-is_primary", None)
    chosen = next(p for p in rows if int(data[f"{p}-partner"]) != current)
    data[f"{chosen}-is_primary"] = "on"
    response = admin_client.post(url(Case, "change", linked.pk), {**data, "_save": "Save"})
    assert response.status_code == 302, response.context and response.context["errors"]
    moved = history(linked, CaseEvent.Verb.PARTNER_PRIMARY).first()
    assert moved.actor == admin
    assert moved.data["partner"] == linked.case_partners.get(is_primary=True).partner.name

    # A shared note un-shared in the Note admin: RECORD_UPDATED, shared False, by the admin.
    note = Note.objects.filter(shared_with_partners=True).select_related("case").first()
    data = form_data(admin_client.get(url(Note, "change", note.pk)))
    data.pop("shared_with_partners", None)
    response = admin_client.post(url(Note, "change", note.pk), {**data, "_save": "Save"})
    assert response.status_code == 302, response.context and response.context["errors"]
    note.refresh_from_db()
    assert not note.shared_with_partners
    unshared = history(note.case, CaseEvent.Verb.RECORD_UPDATED).first()
    assert unshared.actor == admin
    assert unshared.data["record_id"] == note.pk and unshared.data["shared"] is False
    assert unshared.data["fields"] == ["shared_with_partners"]


def test_a_partner_whose_agents_are_on_the_team_cannot_be_removed_in_the_inline(admin_client):
    member = CaseTeamMember.objects.filter(
        is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT
    ).first()
    case = member.case
    data = form_data(admin_client.get(url(Case, "change", case.pk)))
    row = next(p for p in partner_rows(data) if int(data[f"{p}-partner"]) == member.organization_id)
    data[f"{row}-DELETE"] = "on"
    response = admin_client.post(url(Case, "change", case.pk), {**data, "_save": "Save"})
    assert response.status_code == 200
    assert "agents from the Case Team before removing it" in response.content.decode()
    assert case.case_partners.filter(partner=member.organization).exists()


def test_cases_and_their_records_cannot_be_deleted(admin_client):
    case = Case.objects.order_by("pk").first()
    note = Note.objects.order_by("pk").first()
    assert admin_client.get(url(Case, "delete", case.pk)).status_code == 403
    assert admin_client.get(url(Note, "delete", note.pk)).status_code == 403
    # Nor behind the admin's back: the events hold on to their case.
    with pytest.raises(ProtectedError):
        case.delete()
    assert Case.objects.filter(pk=case.pk).exists()


def test_routing_rules_change_in_the_admin_only_through_the_routing_services(admin_client, client):
    rule = AssignmentRule.objects.filter(active=True).order_by("order").first()
    response = admin_client.post(
        url(AssignmentRule, "changelist"),
        {"action": "deactivate", "_selected_action": [rule.pk]},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.active
    changelist = admin_client.get(url(AssignmentRule, "changelist"))
    assert not changelist.context["cl"].list_editable
    # Staff without the routing permission see the rules and change none.
    clerk = UserFactory(username="clerk", is_staff=True, roles=[Role.AGENCY_CASEWORKER])
    clerk.user_permissions.add(Permission.objects.get(codename="view_assignmentrule"))
    client.force_login(clerk)
    assert client.get(url(AssignmentRule, "change", rule.pk)).status_code == 200
    response = client.post(
        url(AssignmentRule, "changelist"), {"action": "activate", "_selected_action": [rule.pk]}
    )
    rule.refresh_from_db()
    assert not rule.active
    assert client.post(url(AssignmentRule, "change", rule.pk), {"name": "x"}).status_code == 403
