"""The write side: every transition and its permission, the primary-partner rules, the
Case Team with its object permissions, the referral answers, records and the event trail."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_fsm import has_transition_perm

from accounts.roles import Role
from cases import selectors, services
from cases.models import (
    CASE_TRANSITIONS,
    Case,
    CaseEvent,
    CaseGroupObjectPermission,
    CasePartner,
    CaseTeamMember,
    CaseUserObjectPermission,
    Referral,
)
from partners.models import PartnerAgent
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

Status = Case.Status
State = Referral.State
Verb = CaseEvent.Verb
ConflictError = services.ConflictError
ALL_TABS = {"activities", "attachments", "servicerequests", "notes"}
TAB_CODENAMES = {
    "activities": "view_case_activities",
    "attachments": "view_case_attachments",
    "servicerequests": "view_case_servicerequests",
    "notes": "view_case_notes",
}


def object_perms(user, case) -> set[str]:
    return set(
        CaseUserObjectPermission.objects.filter(user=user, content_object=case).values_list(
            "permission__codename", flat=True
        )
    )


def group_perms(organization, case) -> set[str]:
    organization.refresh_from_db()
    return set(
        CaseGroupObjectPermission.objects.filter(
            group_id=organization.managers_group_id, content_object=case
        ).values_list("permission__codename", flat=True)
    )


def new_events(case, since: int):
    return list(case.events.filter(pk__gt=since).order_by("pk"))


def last_event_id() -> int:
    last = CaseEvent.objects.order_by("-pk").first()
    return last.pk if last else 0


# Transitions: role x transition x source state ---------------------------------------------

SOURCES = {
    "approve": {Status.OPEN},
    "deny": {Status.OPEN},
    "refer": {Status.APPROVED},
    "recall": {Status.THIRD_PARTY},
    "close": {Status.APPROVED, Status.DENIED, Status.THIRD_PARTY},
    "reopen": {Status.CLOSED},
}
TARGETS = {
    "approve": Status.APPROVED,
    "deny": Status.DENIED,
    "refer": Status.THIRD_PARTY,
    "recall": Status.APPROVED,
    "close": Status.CLOSED,
    "reopen": Status.OPEN,
}
# Who may fire what (the fixtures of tests/conftest.py).
ALLOWED = {
    "agency_manager": set(SOURCES),
    "admin_user": set(SOURCES),
    "caseworker": {"close", "reopen"},
    "partner_agent": set(),  # on the Case Team of the Third-Party case, with work_case
    "partner_manager": set(),
    "outsider": set(),
}


# Closing a Third-Party case withdraws its referrals: it takes the recall permission too.
NEEDS_RECALL = {("close", Status.THIRD_PARTY)}


def expected_outcome(role: str, name: str, source: str):
    if source not in SOURCES[name]:
        return ConflictError
    if (name, source) in NEEDS_RECALL and "recall" not in ALLOWED[role]:
        return PermissionDenied
    if name in ALLOWED[role]:
        return TARGETS[name]
    return PermissionDenied


TABLE = [
    pytest.param(
        role, name, source, expected_outcome(role, name, source), id=f"{role}-{name}-{source}"
    )
    for role in ALLOWED
    for name in SOURCES
    for source in Status.values
]


def case_in(status: str, partner_agent) -> Case:
    """A case in `status`; a Third-Party case has the partner agent on its team."""
    if status == Status.THIRD_PARTY:
        case, _ = make_referral(agent_user=partner_agent)
        return case
    return make_case(status=status)


@pytest.mark.parametrize(("role", "name", "source", "expected"), TABLE)
def test_every_transition_is_allowed_denied_or_in_conflict_by_role_and_state(
    request, partner_agent, partner_manager, role, name, source, expected
):
    actor = request.getfixturevalue(role)
    case = case_in(source, partner_agent)
    since = last_event_id()
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected):
            services.case_transition(actor=actor, case=case, name=name)
        assert Case.objects.get(pk=case.pk).status == source
        assert new_events(case, since) == []
    else:
        result = services.case_transition(actor=actor, case=case, name=name)
        assert result.status == expected == Case.objects.get(pk=case.pk).status
        events = new_events(case, since)
        # Exactly one TRANSITION event per transition; Close and Recall of a Third-Party
        # case then withdraw the partner agent's open referral, one WITHDRAWN event each.
        withdrawn = int(name in ("close", "recall") and source == Status.THIRD_PARTY)
        assert [e.verb for e in events] == [Verb.TRANSITION] + [Verb.WITHDRAWN] * withdrawn
        event = events[0]
        assert event.verb == Verb.TRANSITION and event.actor == actor
        assert event.data["transition"] == name
        assert (event.data["source"], event.data["target"]) == (source, expected)


def test_every_transition_of_the_model_declares_what_the_pages_show_of_it():
    declared = {t.name for t in Case._meta.get_field("status").get_all_transitions(Case)}
    assert declared == set(SOURCES) == set(CASE_TRANSITIONS)
    for name, custom in CASE_TRANSITIONS.items():
        assert custom["label"], name
        assert "{number}" in custom["confirm"], name
        assert "{number}" in custom["done"], name


def test_partner_users_hold_no_model_level_permission_so_the_fsm_denies_them_everything(
    partner_agent, partner_manager
):
    case, _ = make_referral(agent_user=partner_agent)
    for user in (partner_agent, partner_manager):
        assert not {p for p in user.get_all_permissions() if p.startswith("cases.")}
        assert list(case.get_available_user_status_transitions(user)) == []
        assert not has_transition_perm(case.close, user)
        assert services.available_transitions(user=user, case=case) == []


def test_a_partner_user_wrongly_given_a_model_permission_still_cannot_move_a_case(
    partner_agent,
):
    from django.contrib.auth.models import Permission

    partner_agent.user_permissions.add(
        *Permission.objects.filter(codename__in=["approve_case", "close_case", "recall_case"])
    )
    case, _ = make_referral(agent_user=partner_agent)
    for name in ("close", "recall"):
        with pytest.raises(PermissionDenied):
            services.case_transition(actor=partner_agent, case=case, name=name)
    with pytest.raises(PermissionDenied):
        services.case_transition(actor=partner_agent, case=make_case(), name="approve")


def test_available_transitions_list_what_each_agency_role_may_do_now(agency_manager, caseworker):
    case = make_case()
    assert services.available_transitions(user=agency_manager, case=case) == [
        ("approve", "Approve"),
        ("deny", "Deny"),
    ]
    assert services.available_transitions(user=caseworker, case=case) == []
    approved = make_case(status=Status.APPROVED)
    assert services.available_transitions(user=agency_manager, case=approved) == [
        ("refer", "Refer to Third-Party"),
        ("close", "Close Case"),
    ]
    assert services.available_transitions(user=caseworker, case=approved) == [
        ("close", "Close Case")
    ]


def test_an_unknown_transition_is_refused(agency_manager):
    with pytest.raises(ValueError):
        services.case_transition(actor=agency_manager, case=make_case(), name="delete")


def test_a_stale_case_object_cannot_replay_a_transition(agency_manager):
    case = make_case()
    stale = Case.objects.get(pk=case.pk)
    services.case_transition(actor=agency_manager, case=case, name="approve")
    with pytest.raises(ConflictError):
        services.case_transition(actor=agency_manager, case=stale, name="approve")
    assert case.events.filter(verb=Verb.TRANSITION).count() == 1


def test_referring_asks_for_routing_only_when_no_partner_agent_is_on_the_team(
    agency_manager, partner_agent, monkeypatch
):
    calls = []
    monkeypatch.setattr(
        "cases.routing.hooks.route_after_refer",
        lambda *, case, actor: calls.append((case.pk, actor)),
    )
    first = make_case(status=Status.APPROVED)
    services.case_transition(actor=agency_manager, case=first, name="refer")
    assert calls == [(first.pk, agency_manager)]
    # Recalled and referred again with the agent still listed but no longer active.
    second, _ = make_referral(agent_user=partner_agent)
    calls.clear()
    services.case_transition(actor=agency_manager, case=second, name="recall")
    services.case_transition(actor=agency_manager, case=second, name="refer")
    assert calls == [(second.pk, agency_manager)]


def test_recalling_a_referral_withdraws_every_partner_agent_and_revokes_their_access(
    agency_manager, partner_agent, partner_colleague, partner_manager, northside
):
    case, first = make_referral(agent_user=partner_agent)
    services.case_team_add(actor=agency_manager, case=case, user=partner_colleague)
    services.referral_accept(actor=partner_agent, referral=first.referral)
    services.case_transition(actor=agency_manager, case=case, name="recall")
    for user in (partner_agent, partner_colleague):
        member = CaseTeamMember.objects.select_related("referral").get(case=case, user=user)
        assert (member.referral_state, member.is_active) == (State.WITHDRAWN, False)
        assert (member.referral.state, member.referral.reason) == (
            State.WITHDRAWN,
            Referral.WithdrawReason.RECALLED,
        )
        assert object_perms(user, case) == set()
        assert not user.has_perm("cases.view_case", case)
    assert group_perms(northside, case) == set()
    assert not selectors.cases_for_partner_agent(user=partner_manager).exists()


def test_recalling_withdraws_open_referrals_and_a_completed_one_stays_completed_as_its_agent_leaves(
    agency_manager, partner_agent, partner_colleague
):
    case, done = make_referral(agent_user=partner_agent, accepted=True)
    services.referral_complete(
        actor=partner_agent, referral=done.referral, outcome="served", note="Lease signed"
    )
    services.case_team_add(actor=agency_manager, case=case, user=partner_colleague)
    since = last_event_id()
    services.case_transition(actor=agency_manager, case=case, name="recall")
    states = dict(
        case.team.filter(role="partner_agent").values_list("user__username", "referral_state")
    )
    assert states == {"pa": State.COMPLETED, "pb": State.WITHDRAWN}
    referrals = {r.agent.username: r for r in case.referrals.select_related("agent")}
    assert (referrals["pa"].state, referrals["pa"].outcome, referrals["pa"].reason) == (
        State.COMPLETED,
        Referral.Outcome.SERVED,
        "",
    )
    assert (referrals["pb"].state, referrals["pb"].reason) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.RECALLED,
    )
    # Only the open referral is withdrawn: one WITHDRAWN event, for the colleague's.
    withdrawn = [e for e in new_events(case, since) if e.verb == Verb.WITHDRAWN]
    assert len(withdrawn) == 1 and partner_colleague.get_full_name() in withdrawn[0].data["agent"]
    assert not case.team.filter(role="partner_agent", is_active=True).exists()
    assert object_perms(partner_agent, case) == object_perms(partner_colleague, case) == set()


# Cases -------------------------------------------------------------------------------------


def test_creating_a_case_puts_its_owner_on_the_team_and_records_it(agency_manager, caseworker):
    from tests.factories import ProgramFactory

    case = services.case_create(
        actor=agency_manager,
        owner=caseworker,
        name="Delgado Household: Eviction defense",
        program=ProgramFactory(code="HOUSING"),
        applicant_name="Maria Delgado",
    )
    assert case.number.startswith("CASE-") and case.status == Status.OPEN
    owner = case.team.get()
    assert (owner.user, owner.role, owner.referral_state) == (caseworker, "owner", "")
    [event] = case.events.all()
    assert (event.verb, event.actor, event.data) == (
        Verb.CREATED,
        agency_manager,
        {"number": case.number},
    )


def test_case_numbers_follow_on_from_the_highest_of_the_year(agency_manager):
    first, second = make_case(), make_case()
    a, b = int(first.number.rsplit("-", 1)[1]), int(second.number.rsplit("-", 1)[1])
    assert b == a + 1
    assert services.next_case_number(1999) == "CASE-1999-000001"


def test_creating_a_case_refuses_fields_that_are_not_case_fields(agency_manager):
    with pytest.raises(TypeError):
        services.case_create(actor=agency_manager, name="x", status=Status.CLOSED)


def test_editing_a_case_records_the_changed_fields_once(caseworker):
    case = make_case()
    since = last_event_id()
    services.case_update(actor=caseworker, case=case, summary="New summary", priority="high")
    services.case_update(actor=caseworker, case=case, summary="New summary")  # no change
    [event] = new_events(case, since)
    assert event.verb == Verb.UPDATED and event.data == {"fields": ["priority", "summary"]}
    with pytest.raises(TypeError):
        services.case_update(actor=caseworker, case=case, status=Status.CLOSED)


def test_editing_a_case_whose_status_changed_meanwhile_keeps_both_changes(
    agency_manager, caseworker
):
    case = make_case()
    stale = Case.objects.get(pk=case.pk)
    services.case_transition(actor=agency_manager, case=case, name="approve")
    services.case_update(actor=caseworker, case=stale, summary="Applicant moved")
    fresh = Case.objects.get(pk=case.pk)
    assert (fresh.status, fresh.summary) == (Status.APPROVED, "Applicant moved")


# Partners: the primary rules ---------------------------------------------------------------


def primary_of(case):
    return list(
        CasePartner.objects.filter(case=case, is_primary=True).values_list(
            "partner__name", flat=True
        )
    )


def test_the_first_partner_associated_becomes_primary_and_the_next_do_not(agency_manager):
    case = make_case(status=Status.APPROVED)
    a, b = PartnerOrganizationFactory(name="A"), PartnerOrganizationFactory(name="B")
    since = last_event_id()
    first = services.partner_add(actor=agency_manager, case=case, partner=a)
    second = services.partner_add(actor=agency_manager, case=case, partner=b)
    assert first.is_primary and not second.is_primary
    assert primary_of(case) == ["A"]
    events = new_events(case, since)
    assert [(e.verb, e.data) for e in events] == [
        (Verb.PARTNER_ADDED, {"partner": "A", "primary": True}),
        (Verb.PARTNER_ADDED, {"partner": "B", "primary": False}),
    ]


def test_associating_the_same_partner_again_changes_nothing(agency_manager):
    case = make_case()
    a = PartnerOrganizationFactory()
    link = services.partner_add(actor=agency_manager, case=case, partner=a)
    since = last_event_id()
    assert services.partner_add(actor=agency_manager, case=case, partner=a) == link
    assert new_events(case, since) == [] and case.case_partners.count() == 1


def test_an_inactive_partner_organization_cannot_be_associated(agency_manager):
    case = make_case()
    with pytest.raises(ValidationError):
        services.partner_add(
            actor=agency_manager, case=case, partner=PartnerOrganizationFactory(active=False)
        )
    assert not case.case_partners.exists()


def test_setting_the_primary_swaps_it_in_one_step(agency_manager):
    case = make_case()
    a, b, c = (PartnerOrganizationFactory(name=n) for n in "ABC")
    for partner in (a, b, c):
        services.partner_add(actor=agency_manager, case=case, partner=partner)
    since = last_event_id()
    services.partner_set_primary(actor=agency_manager, case=case, partner=c)
    assert primary_of(case) == ["C"]
    services.partner_set_primary(actor=agency_manager, case=case, partner=c)  # already
    services.partner_set_primary(actor=agency_manager, case=case, partner=a)
    assert primary_of(case) == ["A"]
    assert [(e.verb, e.data["partner"]) for e in new_events(case, since)] == [
        (Verb.PARTNER_PRIMARY, "C"),
        (Verb.PARTNER_PRIMARY, "A"),
    ]


def test_a_partner_not_associated_cannot_be_made_primary(agency_manager):
    case = make_case()
    services.partner_add(actor=agency_manager, case=case, partner=PartnerOrganizationFactory())
    with pytest.raises(CasePartner.DoesNotExist):
        services.partner_set_primary(
            actor=agency_manager, case=case, partner=PartnerOrganizationFactory()
        )


def test_removing_the_primary_promotes_the_oldest_remaining_partner(agency_manager):
    case = make_case()
    a, b, c = (PartnerOrganizationFactory(name=n) for n in "ABC")
    for partner in (a, b, c):
        services.partner_add(actor=agency_manager, case=case, partner=partner)
    services.partner_set_primary(actor=agency_manager, case=case, partner=c)
    since = last_event_id()
    services.partner_remove(actor=agency_manager, case=case, partner=c)
    assert primary_of(case) == ["A"]  # the oldest remaining, not the last primary's neighbour
    [event] = new_events(case, since)
    assert (event.verb, event.data) == (Verb.PARTNER_REMOVED, {"partner": "C", "promoted": "A"})
    services.partner_remove(actor=agency_manager, case=case, partner=b)  # not primary
    assert primary_of(case) == ["A"]
    services.partner_remove(actor=agency_manager, case=case, partner=a)
    assert not case.case_partners.exists()
    assert case.events.filter(verb=Verb.PARTNER_REMOVED).order_by("pk").last().data == {
        "partner": "A",
        "promoted": None,
    }


def test_a_partner_whose_agents_are_on_the_team_cannot_be_removed(
    agency_manager, partner_agent, northside
):
    case, _ = make_referral(agent_user=partner_agent)
    with pytest.raises(ValidationError):
        services.partner_remove(actor=agency_manager, case=case, partner=northside)
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    services.partner_remove(actor=agency_manager, case=case, partner=northside)
    assert not case.case_partners.exists()


# Case Team: grants and revokes -------------------------------------------------------------


def test_adding_a_partner_agent_grants_exactly_the_case_and_its_default_tabs(
    agency_manager, partner_agent, northside
):
    case = make_case(status=Status.THIRD_PARTY)
    record_consent(case, northside)
    since = last_event_id()
    member = services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    tabs = set(northside.default_tabs)
    assert object_perms(partner_agent, case) == {
        "view_case",
        "work_case",
        *(TAB_CODENAMES[t] for t in tabs),
    }
    assert set(member.tabs) == tabs
    # The organization is associated, Primary as the first one.
    link = case.case_partners.get()
    assert (link.partner, link.is_primary) == (northside, True)
    # Pending and unseen: the New asterisk in My Cases.
    assert (member.referral_state, member.is_active, member.seen_at) == (
        State.PENDING,
        True,
        None,
    )
    assert member.organization == northside and member.role == "partner_agent"
    assert [e.verb for e in new_events(case, since)] == [Verb.PARTNER_ADDED, Verb.TEAM_ADDED]
    # Nothing on another case, nothing model-level.
    assert object_perms(partner_agent, make_case(status=Status.THIRD_PARTY)) == set()
    assert not partner_agent.has_perm("cases.view_case")


@pytest.mark.parametrize(
    "tabs", [[], ["attachments"], ["notes", "activities"], sorted(ALL_TABS)], ids=str
)
def test_the_agency_can_choose_the_tabs_per_case(agency_manager, partner_agent, tabs):
    case = make_case(status=Status.THIRD_PARTY)
    record_consent(case, partner_agent.partner_agent.organization)
    services.case_team_add(actor=agency_manager, case=case, user=partner_agent, tabs=tabs)
    assert object_perms(partner_agent, case) == {
        "view_case",
        "work_case",
        *(TAB_CODENAMES[t] for t in tabs),
    }
    # The tabs are read off the case as the portal reads it (with the client's consent).
    case, _ = selectors.partner_case_or_404(user=partner_agent, pk=case.pk)
    assert {t.slug for t in selectors.visible_tabs(user=partner_agent, case=case)} == set(tabs)


def test_an_organization_with_another_primary_is_associated_as_secondary(
    agency_manager, partner_agent, harbor, northside
):
    case = make_case(status=Status.THIRD_PARTY)
    services.partner_add(actor=agency_manager, case=case, partner=harbor)
    record_consent(case, northside)
    services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    assert primary_of(case) == ["Harbor Family Services"]
    assert case.case_partners.get(partner=northside).is_primary is False


def test_a_partner_agent_can_only_join_a_third_party_case(agency_manager, partner_agent):
    for status in (Status.OPEN, Status.APPROVED, Status.DENIED, Status.CLOSED):
        case = make_case(status=status)
        with pytest.raises(ValidationError):
            services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
        assert object_perms(partner_agent, case) == set()


def test_an_agent_of_an_inactive_organization_or_inactive_user_cannot_join(
    agency_manager, partner_agent, northside
):
    case = make_case(status=Status.THIRD_PARTY)
    northside.active = False
    northside.save()
    with pytest.raises(ValidationError):
        services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    northside.active = True
    northside.save()
    partner_agent.is_active = False
    partner_agent.save()
    with pytest.raises(ValidationError):
        services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    assert object_perms(partner_agent, case) == set()


def test_a_member_cannot_be_added_twice(agency_manager, partner_agent, caseworker):
    case, _ = make_referral(agent_user=partner_agent)
    with pytest.raises(ValidationError):
        services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    services.case_team_add(actor=agency_manager, case=case, user=caseworker)
    with pytest.raises(ValidationError):
        services.case_team_add(actor=agency_manager, case=case, user=caseworker)


def test_agency_members_join_without_object_permissions_or_referral(agency_manager, caseworker):
    case = make_case()
    member = services.case_team_add(actor=agency_manager, case=case, user=caseworker)
    assert (member.role, member.referral_state, member.organization) == ("agency", "", None)
    assert object_perms(caseworker, case) == set()
    services.case_team_remove(actor=agency_manager, case=case, user=caseworker)
    assert not case.team.filter(user=caseworker).exists()


def test_the_case_owner_stays_on_the_team(agency_manager):
    case = make_case(owner=agency_manager)
    with pytest.raises(ValidationError):
        services.case_team_remove(actor=agency_manager, case=case, user=agency_manager)


def test_removing_a_partner_agent_revokes_everything_at_once_and_withdraws(
    agency_manager, partner_agent, northside
):
    case, member = make_referral(agent_user=partner_agent)
    assert partner_agent.has_perm("cases.view_case", case)
    assert partner_agent.has_perm("cases.work_case", case)
    since = last_event_id()
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    # The same user object: no cached permission survives the removal.
    assert not partner_agent.has_perm("cases.view_case", case)
    assert not partner_agent.has_perm("cases.work_case", case)
    assert object_perms(partner_agent, case) == set()
    member = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
    assert (member.referral_state, member.is_active) == (State.WITHDRAWN, False)
    assert (member.referral.state, member.referral.reason) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.REMOVED,
    )
    assert not selectors.cases_for_partner_agent(user=partner_agent).exists()
    assert [e.verb for e in new_events(case, since)] == [Verb.WITHDRAWN, Verb.TEAM_REMOVED]
    # The organization stays associated until the agency removes it.
    assert case.case_partners.get().partner == northside


def test_removing_an_agent_who_completed_keeps_the_completed_state(agency_manager, partner_agent):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    services.referral_complete(
        actor=partner_agent, referral=member.referral, outcome="served", note="Done"
    )
    since = last_event_id()
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    member = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
    assert (member.referral_state, member.is_active) == (State.COMPLETED, False)
    assert (member.referral.state, member.referral.reason) == (State.COMPLETED, "")
    assert [e.verb for e in new_events(case, since)] == [Verb.TEAM_REMOVED]  # nothing withdrawn
    assert object_perms(partner_agent, case) == set()


def test_a_removed_partner_agent_can_be_added_again(agency_manager, partner_agent):
    case, member = make_referral(agent_user=partner_agent, tabs=["notes"])
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    again = services.case_team_add(
        actor=agency_manager, case=case, user=partner_agent, tabs=["activities"]
    )
    assert again.pk == member.pk  # the same row: its history stays in the trail
    assert (again.referral_state, again.is_active, again.seen_at) == (State.PENDING, True, None)
    assert object_perms(partner_agent, case) == {"view_case", "work_case", "view_case_activities"}
    assert list(selectors.cases_for_partner_agent(user=partner_agent)) == [case]


def test_a_declined_agent_can_be_referred_again_with_a_clean_answer(agency_manager, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    declined = member.referral
    services.referral_decline(actor=partner_agent, referral=declined, reason="other", note="Busy")
    again = services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    assert again.pk == member.pk and again.referral_id != declined.pk
    assert (again.referral_state, again.referral.reason, again.referral.reason_note) == (
        State.PENDING,
        "",
        "",
    )
    assert again.referral.responded_at is None and again.referral.due_at is not None
    # The declined referral is history, not overwritten.
    declined.refresh_from_db()
    assert (declined.state, declined.reason, declined.reason_note) == (
        State.DECLINED,
        "other",
        "Busy",
    )


def test_partner_managers_see_the_case_while_an_agent_of_their_organization_is_on_it(
    agency_manager, partner_agent, partner_colleague, partner_manager, northside, outsider
):
    case, _ = make_referral(agent_user=partner_agent, tabs=["notes"])
    assert partner_manager.has_perm("cases.view_case", case)
    assert list(selectors.cases_for_partner_agent(user=partner_manager)) == [case]
    assert group_perms(northside, case) == {"view_case", "work_case", "view_case_notes"}
    # A second agent with other tabs: the managers get the union.
    services.case_team_add(
        actor=agency_manager, case=case, user=partner_colleague, tabs=["activities"]
    )
    assert group_perms(northside, case) == {
        "view_case",
        "work_case",
        "view_case_notes",
        "view_case_activities",
    }
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    assert group_perms(northside, case) == {"view_case", "work_case", "view_case_activities"}
    assert partner_manager.has_perm("cases.view_case", case)
    services.case_team_remove(actor=agency_manager, case=case, user=partner_colleague)
    # No agent of the organization left: the managers lose the case at once.
    assert not partner_manager.has_perm("cases.view_case", case)
    assert group_perms(northside, case) == set()
    assert not selectors.cases_for_partner_agent(user=partner_manager).exists()
    # Other organizations never saw it.
    assert not outsider.has_perm("cases.view_case", case)


def test_managers_of_another_organization_do_not_get_the_case(partner_agent, harbor, outsider):
    harbor_manager = PartnerAgentFactory(
        user=UserFactory(username="hm"), organization=harbor, role=PartnerAgent.Role.MANAGER
    ).user
    case, _ = make_referral(agent_user=partner_agent)
    assert not harbor_manager.has_perm("cases.view_case", case)
    assert not selectors.cases_for_partner_agent(user=harbor_manager).exists()


# Referral answers --------------------------------------------------------------------------


def test_accepting_a_referral_records_it_and_keeps_the_access(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    since = last_event_id()
    accepted = services.referral_accept(actor=partner_agent, referral=member.referral)
    assert accepted.state == State.ACCEPTED and accepted.responded_at
    member.refresh_from_db()
    assert (member.referral_state, member.is_active) == (State.ACCEPTED, True)
    [event] = new_events(case, since)
    assert (event.verb, event.actor, event.by_partner) == (Verb.ACCEPTED, partner_agent, True)
    assert partner_agent.has_perm("cases.view_case", case)
    assert partner_agent.has_perm("cases.work_case", case)
    stale = Referral.objects.get(pk=accepted.pk)
    with pytest.raises(ConflictError):
        services.referral_accept(actor=partner_agent, referral=stale)  # a stale second click
    assert case.events.filter(verb=Verb.ACCEPTED).count() == 1


def test_only_the_agent_or_someone_with_work_case_may_answer(
    partner_agent, partner_colleague, partner_manager, outsider
):
    _, member = make_referral(agent_user=partner_agent)
    referral = member.referral
    for intruder in (partner_colleague, outsider):
        with pytest.raises(PermissionDenied):
            services.referral_accept(actor=intruder, referral=referral)
        with pytest.raises(PermissionDenied):
            services.referral_decline(actor=intruder, referral=referral, reason="no_capacity")
        with pytest.raises(PermissionDenied):
            services.referral_complete(
                actor=intruder, referral=referral, outcome="served", note="Done"
            )
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == State.PENDING
    assert Referral.objects.get(pk=referral.pk).state == State.PENDING
    # The organization's partner manager holds work_case through the group grant.
    services.referral_accept(actor=partner_manager, referral=referral)
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == State.ACCEPTED
    assert Referral.objects.get(pk=referral.pk).state == State.ACCEPTED


@pytest.mark.parametrize(
    ("reason", "note"),
    [("", ""), ("bored", "x"), ("other", ""), ("other", "   ")],
)
def test_declining_needs_a_known_reason_and_other_needs_a_note(partner_agent, reason, note):
    case, member = make_referral(agent_user=partner_agent)
    since = last_event_id()
    with pytest.raises(ValidationError):
        services.referral_decline(
            actor=partner_agent, referral=member.referral, reason=reason, note=note
        )
    member = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
    assert (member.referral_state, member.is_active) == (State.PENDING, True)
    assert (member.referral.state, member.referral.reason) == (State.PENDING, "")
    assert new_events(case, since) == []


def test_declining_with_a_reason_ends_the_access_and_records_why(
    partner_agent, partner_manager, northside
):
    case, member = make_referral(agent_user=partner_agent)
    since = last_event_id()
    services.referral_decline(
        actor=partner_agent,
        referral=member.referral,
        reason="other",
        note="  Moving offices this month ",
    )
    member = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
    assert (member.referral_state, member.is_active) == (State.DECLINED, False)
    assert (member.referral.state, member.referral.reason, member.referral.reason_note) == (
        State.DECLINED,
        "other",
        "Moving offices this month",
    )
    assert member.referral.responded_at is not None
    assert object_perms(partner_agent, case) == set()
    assert group_perms(northside, case) == set()
    assert not partner_manager.has_perm("cases.view_case", case)
    [event] = new_events(case, since)
    assert event.verb == Verb.DECLINED
    assert event.data["reason"] == "Other" and event.data["note"] == "Moving offices this month"
    with pytest.raises(ConflictError):
        services.referral_accept(actor=partner_agent, referral=member.referral)


def test_a_reason_other_than_other_needs_no_note(partner_agent):
    _, member = make_referral(agent_user=partner_agent)
    services.referral_decline(actor=partner_agent, referral=member.referral, reason="conflict")
    referral = Referral.objects.get(pk=member.referral_id)
    assert (referral.state, referral.reason, referral.reason_note) == (
        State.DECLINED,
        "conflict",
        "",
    )


def test_an_unanswered_referral_expires_once(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    due_at = member.referral.due_at
    since = last_event_id()
    assert services.referral_expire(referral=member.referral, now=due_at) is True
    assert services.referral_expire(referral=member.referral, now=due_at) is False  # idempotent
    member = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
    assert (member.referral_state, member.is_active) == (State.EXPIRED, False)
    assert (member.referral.state, member.referral.completed_at) == (State.EXPIRED, due_at)
    assert object_perms(partner_agent, case) == set()
    [event] = new_events(case, since)
    assert (event.verb, event.actor) == (Verb.EXPIRED, None)


def test_an_accepted_referral_does_not_expire(partner_agent):
    _, member = make_referral(agent_user=partner_agent, accepted=True)
    far = member.referral.due_at + timedelta(days=365)
    assert services.referral_expire(referral=member.referral, now=far) is False
    assert CaseTeamMember.objects.get(pk=member.pk).referral_state == State.ACCEPTED
    assert Referral.objects.get(pk=member.referral_id).state == State.ACCEPTED


def test_only_accepted_work_can_be_completed(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    referral = member.referral
    with pytest.raises(ConflictError):
        services.referral_complete(
            actor=partner_agent, referral=referral, outcome="served", note="Done"
        )
    assert Referral.objects.get(pk=referral.pk).state == State.PENDING
    services.referral_accept(actor=partner_agent, referral=referral)
    since = last_event_id()
    done = services.referral_complete(
        actor=partner_agent, referral=referral, outcome="served", note="Done"
    )
    assert (done.state, done.outcome, done.outcome_note) == (State.COMPLETED, "served", "Done")
    member.refresh_from_db()
    assert (member.referral_state, member.is_active) == (State.COMPLETED, True)
    assert [e.verb for e in new_events(case, since)] == [Verb.COMPLETED]
    with pytest.raises(ConflictError):
        services.referral_complete(
            actor=partner_agent, referral=referral, outcome="served", note="Done"
        )


def test_a_partner_manager_reassigns_a_referral_within_the_organization(
    partner_agent, partner_colleague, partner_manager
):
    case, member = make_referral(agent_user=partner_agent, tabs=["notes", "attachments"])
    since = last_event_id()
    moved = services.referral_reassign(
        actor=partner_manager, referral=member.referral, to_user=partner_colleague
    )
    assert moved.user == partner_colleague
    assert (moved.referral_state, moved.seen_at) == (State.PENDING, None)
    assert moved.referral.replaces_id == member.referral_id
    assert moved.referral.due_at == member.referral.due_at  # a pending one keeps its deadline
    assert object_perms(partner_colleague, case) == {
        "view_case",
        "work_case",
        "view_case_notes",
        "view_case_attachments",
    }
    assert object_perms(partner_agent, case) == set()
    old = CaseTeamMember.objects.select_related("referral").get(pk=member.pk)
    assert (old.referral_state, old.is_active) == (State.WITHDRAWN, False)
    assert (old.referral.state, old.referral.reason) == (
        State.WITHDRAWN,
        Referral.WithdrawReason.REASSIGNED,
    )
    assert [e.verb for e in new_events(case, since)] == [
        Verb.WITHDRAWN,
        Verb.TEAM_ADDED,
        Verb.REASSIGNED,
    ]
    assert list(selectors.cases_for_partner_agent(user=partner_manager)) == [case]


def test_only_a_partner_manager_of_the_same_organization_may_reassign(
    partner_agent, partner_colleague, harbor, outsider
):
    harbor_manager = PartnerAgentFactory(
        user=UserFactory(username="hm"), organization=harbor, role=PartnerAgent.Role.MANAGER
    ).user
    agency = UserFactory(username="am2", roles=[Role.AGENCY_MANAGER])
    _, member = make_referral(agent_user=partner_agent)
    for actor in (partner_agent, partner_colleague, harbor_manager, agency):
        with pytest.raises(PermissionDenied):
            services.referral_reassign(
                actor=actor, referral=member.referral, to_user=partner_colleague
            )
    assert CaseTeamMember.objects.get(pk=member.pk).is_active
    assert Referral.objects.get(pk=member.referral_id).state == State.PENDING
    assert not Referral.objects.filter(agent=partner_colleague).exists()


def test_a_referral_is_reassigned_only_to_another_active_agent_of_the_organization(
    partner_agent, partner_colleague, partner_manager, outsider, agency_manager
):
    _, member = make_referral(agent_user=partner_agent)
    for target in (outsider, agency_manager, partner_agent):
        with pytest.raises(ValidationError):
            services.referral_reassign(
                actor=partner_manager, referral=member.referral, to_user=target
            )
    partner_colleague.is_active = False
    partner_colleague.save()
    with pytest.raises(ValidationError):
        services.referral_reassign(
            actor=partner_manager, referral=member.referral, to_user=partner_colleague
        )
    assert CaseTeamMember.objects.get(pk=member.pk).user == partner_agent
    referral = Referral.objects.get(pk=member.referral_id)
    assert (referral.agent, referral.state) == (partner_agent, State.PENDING)
    assert referral.case.referrals.count() == 1


def test_a_closed_referral_cannot_be_reassigned(partner_agent, partner_colleague, partner_manager):
    case, member = make_referral(agent_user=partner_agent, accepted=True)
    services.referral_complete(
        actor=partner_agent, referral=member.referral, outcome="served", note="Done"
    )
    with pytest.raises(ConflictError):
        services.referral_reassign(
            actor=partner_manager, referral=member.referral, to_user=partner_colleague
        )
    assert Referral.objects.get(pk=member.referral_id).state == State.COMPLETED
    assert not case.team.filter(user=partner_colleague).exists()


def test_opening_the_case_clears_the_new_flag_and_records_the_view(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    assert selectors.new_case_count(user=partner_agent) == 1
    since = last_event_id()
    services.case_mark_seen(user=partner_agent, case=case)
    seen_at = CaseTeamMember.objects.get(pk=member.pk).seen_at
    assert seen_at is not None and selectors.new_case_count(user=partner_agent) == 0
    services.case_mark_seen(user=partner_agent, case=case)
    assert CaseTeamMember.objects.get(pk=member.pk).seen_at == seen_at  # the first view stays
    events = new_events(case, since)
    assert [(e.verb, e.actor, e.by_partner) for e in events] == [
        (Verb.VIEWED, partner_agent, True),
        (Verb.VIEWED, partner_agent, True),
    ]


# Records -----------------------------------------------------------------------------------


def test_agency_records_are_internal_unless_shared(caseworker):
    case = make_case()
    note = services.record_add(actor=caseworker, case=case, kind="notes", body="Internal")
    shared = services.record_add(
        actor=caseworker, case=case, kind="notes", body="For the partner", shared_with_partners=True
    )
    assert (note.shared_with_partners, note.by_partner) == (False, False)
    assert shared.shared_with_partners
    events = case.events.filter(verb=Verb.RECORD_ADDED).order_by("pk")
    assert [e.data["shared"] for e in events] == [False, True]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("notes", {"body": "Met the client"}),
        ("activities", {"subject": "First call", "type": "call"}),
        ("servicerequests", {"title": "Ledger from the landlord"}),
    ],
)
def test_records_a_partner_writes_are_always_shared(partner_agent, kind, fields):
    case, _ = make_referral(agent_user=partner_agent, accepted=True)
    record = services.record_add(
        actor=partner_agent, case=case, kind=kind, shared_with_partners=False, **fields
    )
    assert (record.by_partner, record.shared_with_partners) == (True, True)
    event = case.events.get(verb=Verb.RECORD_ADDED)
    assert event.by_partner and event.data["kind"] == kind


def test_service_requests_get_sequential_numbers(caseworker):
    case = make_case()
    first = services.record_add(actor=caseworker, case=case, kind="servicerequests", title="A")
    second = services.record_add(actor=caseworker, case=case, kind="servicerequests", title="B")
    assert int(second.number.split("-")[1]) == int(first.number.split("-")[1]) + 1


def test_records_refuse_unknown_fields_and_files_go_through_attachment_add(caseworker):
    case = make_case()
    with pytest.raises(TypeError):
        services.record_add(actor=caseworker, case=case, kind="notes", body="x", by_partner=True)
    with pytest.raises(TypeError):
        services.record_add(actor=caseworker, case=case, kind="attachments", description="x")


def test_a_partner_cannot_unshare_a_record_but_the_agency_can(caseworker, partner_agent):
    case, _ = make_referral(agent_user=partner_agent, accepted=True)
    record = services.record_add(
        actor=caseworker,
        case=case,
        kind="servicerequests",
        title="Ledger",
        shared_with_partners=True,
    )
    with pytest.raises(TypeError):
        services.record_update(actor=partner_agent, record=record, shared_with_partners=False)
    services.record_update(actor=partner_agent, record=record, status="in_progress")
    services.record_update(actor=caseworker, record=record, shared_with_partners=False)
    record.refresh_from_db()
    assert (record.status, record.shared_with_partners) == ("in_progress", False)
    updates = case.events.filter(verb=Verb.RECORD_UPDATED).order_by("pk")
    assert [e.data["fields"] for e in updates] == [["status"], ["shared_with_partners"]]


def test_an_attachment_is_stored_under_a_generated_name_with_its_checksum(
    caseworker, private_storage
):
    import hashlib

    case = make_case()
    content = b"%PDF-1.4\n% eviction notice\n%%EOF\n"
    attachment = services.attachment_add(
        actor=caseworker, case=case, upload=ContentFile(content, name="Eviction notice.pdf")
    )
    assert attachment.original_name == "Eviction notice.pdf"
    assert "Eviction" not in attachment.file.name
    assert (attachment.size, attachment.content_type) == (len(content), "application/pdf")
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert not attachment.shared_with_partners
    with attachment.file.open("rb") as handle:
        assert handle.read() == content
    assert case.events.get(verb=Verb.RECORD_ADDED).data["kind"] == "attachments"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notice.pdf", b"MZ\x90\x00 not a pdf"),
        ("notice.exe", b"MZ\x90\x00"),
        ("notice.pdf", b""),
        ("notes.txt", b"binary\x00content"),
    ],
)
def test_a_file_whose_content_does_not_match_is_refused_and_nothing_is_stored(
    caseworker, private_storage, name, content
):
    case = make_case()
    with pytest.raises(ValidationError):
        services.attachment_add(actor=caseworker, case=case, upload=ContentFile(content, name=name))
    assert not case.attachments.exists()
    assert not any(p.is_file() for p in private_storage.rglob("*"))


def test_a_file_whose_record_cannot_be_written_is_removed_from_storage(
    caseworker, private_storage, monkeypatch
):
    assert default_storage.location == str(private_storage)
    case = make_case()

    def broken_event(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_event", broken_event)
    with pytest.raises(RuntimeError):
        services.attachment_add(
            actor=caseworker, case=case, upload=ContentFile(b"hello", name="letter.txt")
        )
    assert not any(p.is_file() for p in private_storage.rglob("*"))


# Every service checks its actor's permission (the views' 403 is only a courtesy) --------------


def _denied_calls(case, record, colleague, northside):
    """Each public agency write, as a user without the model permission would call it."""
    return {
        "case_create": lambda actor: services.case_create(
            actor=actor, name="X", program=case.program
        ),
        "case_update": lambda actor: services.case_update(actor=actor, case=case, name="Renamed"),
        "partner_add": lambda actor: services.partner_add(
            actor=actor, case=case, partner=northside
        ),
        "partner_set_primary": lambda actor: services.partner_set_primary(
            actor=actor, case=case, partner=northside
        ),
        "partner_remove": lambda actor: services.partner_remove(
            actor=actor, case=case, partner=northside
        ),
        "case_team_add": lambda actor: services.case_team_add(
            actor=actor, case=case, user=colleague
        ),
        "case_team_remove": lambda actor: services.case_team_remove(
            actor=actor, case=case, user=case.owner
        ),
        "record_add": lambda actor: services.record_add(
            actor=actor, case=case, kind="notes", body="Not allowed"
        ),
        "record_update": lambda actor: services.record_update(
            actor=actor, record=record, shared_with_partners=False
        ),
        "attachment_add": lambda actor: services.attachment_add(
            actor=actor, case=case, upload=ContentFile(b"hello", name="a.txt")
        ),
    }


SERVICES_CHECKED = (
    "case_create",
    "case_update",
    "partner_add",
    "partner_set_primary",
    "partner_remove",
    "case_team_add",
    "case_team_remove",
    "record_add",
    "record_update",
    "attachment_add",
)


@pytest.mark.parametrize("name", SERVICES_CHECKED)
def test_a_service_refuses_an_actor_without_the_permission_whoever_calls_it(name, northside):
    manager = UserFactory(username="svc-manager", roles=[Role.AGENCY_MANAGER])
    case = make_case(status=Case.Status.THIRD_PARTY, actor=manager, owner=manager)
    services.partner_add(actor=manager, case=case, partner=northside)
    record = services.record_add(
        actor=manager, case=case, kind="notes", body="Shared", shared_with_partners=True
    )
    colleague = UserFactory(username="svc-colleague", roles=[Role.AGENCY_CASEWORKER])
    nobody = UserFactory(username="svc-nobody")  # signed in, no role, no permission
    before = CaseEvent.objects.count()
    with pytest.raises(PermissionDenied):
        _denied_calls(case, record, colleague, northside)[name](nobody)
    assert CaseEvent.objects.count() == before
