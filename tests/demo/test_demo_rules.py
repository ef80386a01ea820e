"""The Assignment Manager's demo rules on their own (without the demo cases): made once, by
the rule service, and they route an approved case to a Northside Legal Aid agent."""

import pytest

from cases import routing, services
from cases.models import AssignmentRule, Case
from demo.management.commands.load_demo import load_demo_rules
from partners.models import PartnerAgent
from tests.cases.test_routing import agent
from tests.factories import ProgramFactory, UserFactory, make_case, record_consent

pytestmark = pytest.mark.django_db


def test_load_demo_rules_is_idempotent_and_routes_to_northside(northside, harbor):
    snap = ProgramFactory(code="SNAP", name="SNAP")
    priya = agent("priya", northside)
    agent("mgr", northside, role=PartnerAgent.Role.MANAGER)
    agent("tomas", harbor)
    assert load_demo_rules() == 3  # no County Housing Authority here
    assert load_demo_rules() == 0
    assert list(AssignmentRule.objects.order_by("order").values_list("order", flat=True)) == [
        1,
        2,
        3,
    ]
    manager = UserFactory(username="manager", roles=["Agency Manager"])
    case = make_case(status=Case.Status.APPROVED, program=snap, language="en", actor=manager)
    record_consent(case, northside, actor=manager)
    services.case_transition(actor=manager, case=case, name="refer")
    decision = routing.latest_routing_decision(case=case)
    assert decision.winner == priya
    assert decision.winner.organization == northside
    assert decision.explanation.startswith("Least loaded: 0 of 25 open cases")
