"""case_team_add_many: the bulk form of case_team_add that bulk routing uses. It must leave
exactly what adding the same agents one by one leaves, in a number of statements that does
not grow with the number of cases."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import routing, services
from cases.models import (
    Case,
    CaseEvent,
    CaseGroupObjectPermission,
    CasePartner,
    CaseTeamMember,
    CaseUserObjectPermission,
    Referral,
    RoutingDecision,
)
from cases.records import Tab
from cases.routing import services as routing_services
from tests.factories import (
    PartnerAgentFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    record_consent,
)
from tests.routing_off import routing_off

pytestmark = pytest.mark.django_db

Status = Case.Status


@pytest.fixture
def notified(monkeypatch):
    """The referrals the assignment emails would be about, in order."""
    from cases import notifications

    sent = []
    monkeypatch.setattr(
        notifications, "notify_assignment", lambda *, referral: sent.append(referral.pk)
    )
    return sent


def snapshot(case: Case, *, after: int) -> dict:
    """What an assignment leaves on a case (its events after event `after`), without ids,
    times and the case's own owner."""
    managers = {
        partner.partner.managers_group_id: partner.partner.name
        for partner in case.case_partners.select_related("partner")
    }
    referrals = {r.pk: r for r in case.referrals.select_related("agent")}

    def without_ids(data: dict) -> dict:
        """An event's data with its referral named by its agent, and its due time checked
        against that referral's instead of compared."""
        if "referral" not in data:
            return data
        referral = referrals[data["referral"]]
        return {
            **data,
            "referral": referral.agent.username,
            "due_at": data["due_at"] == referral.due_at.isoformat(),
        }

    return {
        "team": sorted(
            (
                m.user.username,
                m.role,
                m.organization_id,
                m.is_active,
                tuple(m.tabs),
                m.referral_state,
                m.seen_at is None,
                m.added_by_id,
                # The member's referral: the same for one by one and at once.
                m.referral.agent_id == m.user_id,
                m.referral.organization_id,
                m.referral.state,
                m.referral.requested_by_id,
                m.referral.response_hours,
                m.referral.due_at is not None,
                m.referral.replaces_id,
                m.referral.routing_decision_id,
            )
            for m in case.team.filter(role="partner_agent").select_related("user", "referral")
        ),
        "partners": sorted(
            case.case_partners.values_list("partner__name", "is_primary", "added_by_id")
        ),
        "user_permissions": sorted(
            CaseUserObjectPermission.objects.filter(content_object=case).values_list(
                "user__username", "permission__codename"
            )
        ),
        "group_permissions": sorted(
            (managers.get(group_id, group_id), codename)
            for group_id, codename in CaseGroupObjectPermission.objects.filter(
                content_object=case
            ).values_list("group_id", "permission__codename")
        ),
        "events": [
            (e.verb, e.actor_id, e.by_partner, without_ids(e.data))
            for e in case.events.filter(pk__gt=after).order_by("created_at", "pk")
        ],
    }


def scenarios(agency_manager, harbor, northside):
    """Three Third-Party cases: without a partner, with another Primary partner, with the
    agent's own organization already associated; each with the client's consent for the
    agent's organization."""
    cases = [make_case(status=Status.THIRD_PARTY, actor=agency_manager) for _ in range(3)]
    for case in cases:
        record_consent(case, northside, actor=agency_manager)
    services.partner_add(actor=agency_manager, case=cases[1], partner=harbor)
    services.partner_add(actor=agency_manager, case=cases[2], partner=northside)
    return cases


@pytest.mark.usefixtures("services_without_routing")
def test_adding_agents_at_once_leaves_what_adding_them_one_by_one_leaves(
    agency_manager, northside, harbor, partner_agent, partner_colleague, partner_manager
):
    one_by_one = scenarios(agency_manager, harbor, northside)
    at_once = scenarios(agency_manager, harbor, northside)
    after = CaseEvent.objects.latest("pk").pk
    plan = [
        (partner_agent, None, 48, {"routed": True, "rule": "R"}),
        (partner_colleague, [Tab.NOTES.value], None, None),
        (partner_agent, [], 24, None),
    ]
    for case, (user, tabs, hours, data) in zip(one_by_one, plan, strict=True):
        services.case_team_add(
            actor=agency_manager,
            case=case,
            user=user,
            tabs=tabs,
            response_hours=hours,
            event_data=data,
        )
    members = services.case_team_add_many(
        actor=agency_manager,
        assignments=[
            services.TeamAssignment(
                case=case,
                agent=user.partner_agent,
                tabs=tabs,
                response_hours=hours,
                event_data=data,
            )
            for case, (user, tabs, hours, data) in zip(at_once, plan, strict=True)
        ],
    )
    assert [m.pk for m in members] == list(
        CaseTeamMember.objects.filter(role="partner_agent", case__in=at_once)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for single, bulk in zip(one_by_one, at_once, strict=True):
        assert snapshot(bulk, after=after) == snapshot(single, after=after)


def test_each_assigned_agent_is_notified_once(
    agency_manager, northside, harbor, partner_agent, notified
):
    cases = scenarios(agency_manager, harbor, northside)
    members = services.case_team_add_many(
        actor=agency_manager,
        assignments=[
            services.TeamAssignment(case=case, agent=partner_agent.partner_agent) for case in cases
        ],
    )
    assert notified == [m.referral_id for m in members]


@pytest.mark.usefixtures("services_without_routing")
def test_a_batch_with_one_bad_assignment_changes_nothing(
    agency_manager, partner_agent, partner_colleague
):
    good = make_case(status=Status.THIRD_PARTY, actor=agency_manager)
    approved = make_case(status=Status.APPROVED, actor=agency_manager)
    former = make_case(status=Status.THIRD_PARTY, actor=agency_manager)
    for case in (good, approved, former):
        record_consent(case, partner_agent.partner_agent.organization, actor=agency_manager)
    services.case_team_add(actor=agency_manager, case=former, user=partner_colleague)
    services.case_team_remove(actor=agency_manager, case=former, user=partner_colleague)
    tables = (CaseTeamMember, CaseEvent, CasePartner, CaseUserObjectPermission)
    before = [model.objects.count() for model in tables]

    def add(*pairs):
        services.case_team_add_many(
            actor=agency_manager,
            assignments=[
                services.TeamAssignment(case=case, agent=user.partner_agent) for case, user in pairs
            ],
        )

    with pytest.raises(ValidationError, match="Third-Party"):
        add((good, partner_agent), (approved, partner_agent))
    with pytest.raises(ValidationError, match="already has a row"):
        add((good, partner_agent), (former, partner_colleague))
    with pytest.raises(ValidationError, match="twice"):
        add((good, partner_agent), (good, partner_colleague))
    assert [model.objects.count() for model in tables] == before


@pytest.mark.usefixtures("services_without_routing")
def test_adding_agents_at_once_takes_the_same_statements_for_1_or_20_cases(
    agency_manager, northside, partner_agent
):
    def statements(count: int) -> int:
        cases = [make_case(status=Status.THIRD_PARTY, actor=agency_manager) for _ in range(count)]
        for case in cases:
            record_consent(case, northside, actor=agency_manager)
        with CaptureQueriesContext(connection) as captured:
            services.case_team_add_many(
                actor=agency_manager,
                assignments=[
                    services.TeamAssignment(case=case, agent=partner_agent.partner_agent)
                    for case in cases
                ],
            )
        return len(captured)

    statements(1)  # content types cached
    # 20: the business calendar's closures read once, the referrals inserted at once, one
    # UPDATE that ends any wait of those cases with their owner, the consents and emergency
    # access of every case read at once (two queries), and one UPDATE of the agents' marks
    # for My Cases' notices of ended access.
    assert statements(1) == statements(20) <= 20


def test_bulk_routing_re_refers_a_former_team_member_one_by_one(agency_manager, northside):
    """A withdrawn agent may be routed the case again: `case_team_add` re-refers their row,
    while the other cases of the chunk are assigned at once."""
    ana = PartnerAgentFactory(
        user=UserFactory(username="ana"),
        organization=northside,
        languages=["en"],
        programs=["SNAP"],
    ).user
    program = ProgramFactory(code="SNAP")
    with routing_off():
        cases = [
            make_case(
                status=Status.THIRD_PARTY, actor=agency_manager, program=program, language="en"
            )
            for _ in range(4)
        ]
    for case in cases:
        record_consent(case, northside, actor=agency_manager)
    services.case_team_add(actor=agency_manager, case=cases[0], user=ana)
    services.case_team_remove(actor=agency_manager, case=cases[0], user=ana)
    routing_services.assignment_rule_create(actor=None, name="All", organizations=[northside])

    counts = routing.cases_route_unassigned(actor=None)

    assert counts == {RoutingDecision.Outcome.ASSIGNED: 4}
    for case in cases:
        member = case.team.get(role="partner_agent", is_active=True)
        assert member.user == ana
        assert member.referral_state == Referral.State.PENDING
        assert member.referral.state == Referral.State.PENDING
        assert member.referral.routing_decision == RoutingDecision.objects.get(case=case)
    assert cases[0].team.filter(user=ana).count() == 1  # the same row, referred again
    granted = services.permissions.codenames_for_tabs(northside.default_tabs)
    assert CaseUserObjectPermission.objects.filter(user=ana).count() == 4 * len(granted)
