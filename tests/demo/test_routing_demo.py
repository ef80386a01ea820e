"""The demo routing rules with the demo data: referring an approved case as `manager`
routes it to a Northside Legal Aid agent, with the reason stored."""

import pytest
from django.contrib.auth import get_user_model

from cases import routing, services
from cases.models import AssignmentRule, Case, Referral, RoutingDecision
from demo.management.commands.load_demo import load_demo_rules
from partners.models import PartnerOrganization
from tests.factories import record_consent

pytestmark = pytest.mark.django_db


def test_the_demo_has_routing_rules(demo):
    names = list(AssignmentRule.objects.filter(active=True).values_list("name", flat=True))
    assert len(names) >= 3
    assert names[-1] == "All other cases: Northside Legal Aid, least loaded"
    assert load_demo_rules() == 0  # idempotent


def test_referring_any_approved_demo_case_routes_it_to_northside_legal_aid(demo):
    manager = get_user_model().objects.get(username="manager")
    northside = PartnerOrganization.objects.get(name="Northside Legal Aid")
    approved = list(Case.objects.filter(status=Case.Status.APPROVED))
    assert approved
    for case in approved:
        # The client's consent for Northside Legal Aid is recorded before the referral.
        record_consent(case, northside, actor=manager)
        services.case_transition(actor=manager, case=case, name="refer")
        decision = routing.latest_routing_decision(case=case)
        assert decision.outcome == RoutingDecision.Outcome.ASSIGNED, decision.explanation
        assert decision.winner.organization.name == "Northside Legal Aid"
        assert decision.explanation.startswith(("Least loaded: ", "Round robin: "))
        member = case.team.get(user=decision.winner.user)
        assert member.is_active
        assert member.referral.state == Referral.State.PENDING
        assert member.referral.due_at is not None
        assert member.referral.routing_decision == decision
