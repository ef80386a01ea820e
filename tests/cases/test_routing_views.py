"""Routing pages: only Agency Managers (cases.route_case) may use them; POST-only changes."""

from unittest import mock

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import routing
from cases.models import AssignmentRule, Case, CaseEvent, CaseTeamMember, Referral, RoutingDecision
from cases.routing import services as routing_services
from tests.factories import (
    PartnerAgentFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    record_consent,
)

pytestmark = pytest.mark.django_db

Outcome = RoutingDecision.Outcome


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def snap(db):
    return ProgramFactory(code="SNAP", name="SNAP")


@pytest.fixture
def ana(northside):
    return PartnerAgentFactory(
        user=UserFactory(username="ana", first_name="Ana", last_name="Alvarez"),
        organization=northside,
        languages=["en", "es"],
        programs=["SNAP"],
    )


@pytest.fixture
def the_rule(northside):
    return routing_services.assignment_rule_create(
        actor=None, name="Northside for all", organizations=[northside]
    )


@pytest.fixture
def unassigned(snap, northside):
    """A Third-Party case nobody has yet (as if referred before any rule existed), with the
    client's consent for Northside."""
    with mock.patch("cases.routing.hooks.route_after_refer", lambda **kwargs: None):
        case = make_case(status=Case.Status.THIRD_PARTY, program=snap, language="es")
    record_consent(case, northside)
    return case


def login(client, user):
    client.force_login(user)
    return client


# Who may do what ---------------------------------------------------------------------------

PAGES = [
    # (url name, needs a rule pk / case pk, method, status for a manager)
    ("cases:routing", None, "get", 200),
    ("cases:routing_rule_new", None, "get", 200),
    ("cases:routing_rule_edit", "rule", "get", 200),
    ("cases:routing_dry_run", "rule", "get", 200),
    ("cases:routing_rule_active", "rule", "post", 302),
    ("cases:routing_rule_move", "rule", "post", 302),
    ("cases:routing_route_unassigned", None, "post", 302),
    ("cases:route", "case", "post", 302),
]
POST_ONLY = [(name, arg) for name, arg, method, _ in PAGES if method == "post"]


def _url(name, arg, the_rule, unassigned):
    pk = {"rule": the_rule.pk, "case": unassigned.pk, None: None}[arg]
    return reverse(name, args=[pk] if pk else [])


@pytest.mark.parametrize(("name", "arg", "method", "status"), PAGES)
def test_agency_managers_can_use_every_routing_page(
    client, agency_manager, the_rule, unassigned, name, arg, method, status
):
    response = getattr(login(client, agency_manager), method)(
        _url(name, arg, the_rule, unassigned), {"active": "1", "direction": "up"}
    )
    assert response.status_code == status


@pytest.mark.parametrize("who", ["caseworker", "partner_agent", "partner_manager", "outsider"])
@pytest.mark.parametrize(("name", "arg", "method", "_status"), PAGES)
def test_caseworkers_and_partners_get_403_and_change_nothing(
    client, request, the_rule, unassigned, who, name, arg, method, _status
):
    PartnerAgentFactory(
        user=UserFactory(username="ana2"), organization=the_rule.organizations.get()
    )
    before = (
        list(AssignmentRule.objects.values_list("pk", "order", "active")),
        RoutingDecision.objects.count(),
        CaseTeamMember.objects.count(),
    )
    response = getattr(login(client, request.getfixturevalue(who)), method)(
        _url(name, arg, the_rule, unassigned), {"active": "0", "direction": "down"}
    )
    assert response.status_code == 403
    after = (
        list(AssignmentRule.objects.values_list("pk", "order", "active")),
        RoutingDecision.objects.count(),
        CaseTeamMember.objects.count(),
    )
    assert after == before


@pytest.mark.parametrize(("name", "arg"), POST_ONLY)
def test_state_changing_routing_views_refuse_get(
    client, agency_manager, the_rule, unassigned, name, arg
):
    response = login(client, agency_manager).get(_url(name, arg, the_rule, unassigned))
    assert response.status_code == 405


def test_anonymous_visitors_are_sent_to_sign_in(client, the_rule):
    response = client.get(reverse("cases:routing"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_missing_case_or_rule_is_404(client, agency_manager, the_rule):
    login(client, agency_manager)
    assert client.post(reverse("cases:route", args=[999999])).status_code == 404
    assert client.get(reverse("cases:routing_rule_edit", args=[999999])).status_code == 404
    assert client.get(reverse("cases:routing_dry_run", args=[999999])).status_code == 404


def test_the_routing_nav_item_shows_for_managers_only(client, agency_manager, caseworker):
    assert b">Routing<" in login(client, agency_manager).get(reverse("cases:list")).content
    client.logout()
    assert b">Routing<" not in login(client, caseworker).get(reverse("cases:list")).content


# Rules -------------------------------------------------------------------------------------


def test_a_manager_adds_a_rule_at_the_end(client, agency_manager, northside, the_rule, snap):
    response = login(client, agency_manager).post(
        reverse("cases:routing_rule_new"),
        {
            "name": "Spanish SNAP",
            "active": "on",
            "program": snap.pk,
            "language": "es",
            "region": " North ",
            "priority": "",
            "organizations": [northside.pk],
            "match_language": "on",
            "strategy": "round_robin",
            "response_window_hours": "24",
            "on_expiry": "escalate",
        },
    )
    assert response.status_code == 302
    rule = AssignmentRule.objects.get(name="Spanish SNAP")
    assert rule.order == the_rule.order + 1
    assert (rule.program, rule.language, rule.region, rule.priority) == (snap, "es", "North", "")
    assert list(rule.organizations.all()) == [northside]
    assert (rule.match_language, rule.match_program) == (True, False)
    assert rule.strategy == AssignmentRule.Strategy.ROUND_ROBIN
    assert rule.on_expiry == AssignmentRule.OnExpiry.ESCALATE
    page = client.get(reverse("cases:routing")).content.decode()
    rules_table = page[page.index("<h2>Rules</h2>") :]
    assert rules_table.index("Northside for all") < rules_table.index("Spanish SNAP")


def test_a_rule_without_candidates_or_window_is_refused(client, agency_manager):
    response = login(client, agency_manager).post(
        reverse("cases:routing_rule_new"),
        {"name": "Nobody", "strategy": "least_loaded", "response_window_hours": "0"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose at least one partner organization or partner agent." in html
    assert "Give between 1 and 720 hours." in html
    assert not AssignmentRule.objects.filter(name="Nobody").exists()


def test_a_manager_edits_a_rule(client, agency_manager, the_rule, ana):
    response = login(client, agency_manager).post(
        reverse("cases:routing_rule_edit", args=[the_rule.pk]),
        {
            "name": "Only Ana",
            "agents": [ana.pk],
            "strategy": "least_loaded",
            "response_window_hours": "12",
            "on_expiry": "next_candidate",
        },
    )
    assert response.status_code == 302
    the_rule.refresh_from_db()
    assert the_rule.name == "Only Ana"
    assert not the_rule.active  # the box was not ticked
    assert list(the_rule.agents.all()) == [ana]
    assert not the_rule.organizations.exists()


def test_deactivating_twice_has_one_effect(client, agency_manager, the_rule):
    login(client, agency_manager)
    for _ in range(2):
        client.post(reverse("cases:routing_rule_active", args=[the_rule.pk]), {"active": "0"})
    the_rule.refresh_from_db()
    assert not the_rule.active
    client.post(reverse("cases:routing_rule_active", args=[the_rule.pk]), {"active": "1"})
    the_rule.refresh_from_db()
    assert the_rule.active


def test_moving_a_rule_up_puts_it_first(client, agency_manager, the_rule, northside):
    second = routing_services.assignment_rule_create(
        actor=None, name="Second", organizations=[northside]
    )
    login(client, agency_manager).post(
        reverse("cases:routing_rule_move", args=[second.pk]), {"direction": "up"}
    )
    assert list(AssignmentRule.objects.values_list("name", flat=True)) == [
        "Second",
        "Northside for all",
    ]


def _rules(count: int, *, start: int, program, organizations, agents) -> None:
    for n in range(start, start + count):
        routing_services.assignment_rule_create(
            actor=None,
            name=f"Rule {n:03d}",
            program=program,
            organizations=organizations,
            agents=agents,
        )


def test_the_rules_page_takes_the_same_queries_for_1_or_200_rules(
    client, agency_manager, northside, ana, snap
):
    """Rules with their program, organizations and agents, the unassigned count and the
    recent decisions: the same statements for 1 rule and for 200."""
    login(client, agency_manager)
    pools = {"program": snap, "organizations": [northside], "agents": [ana]}
    _rules(1, start=0, **pools)
    client.get(reverse("cases:routing"))  # session and permission caches warm
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("cases:routing")).status_code == 200
    assert len(one) <= 12
    _rules(199, start=1, **pools)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("cases:routing"))
    assert len(many) == len(one)
    assert response.content.decode().count("Rule 1") >= 100  # Rule 100 ... Rule 199 shown


# Routing from the pages --------------------------------------------------------------------


def test_route_automatically_assigns_the_case_and_says_why(
    client, agency_manager, ana, the_rule, unassigned
):
    response = login(client, agency_manager).post(
        reverse("cases:route", args=[unassigned.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("cases:detail", args=[unassigned.pk, "team"])
    html = response.content.decode()
    assert f"Case {unassigned.number} routed to Ana Alvarez (Northside Legal Aid)" in html
    assert "Why this agent" in html
    assert "Least loaded: 0 of 25 open cases; speaks Spanish; serves SNAP" in html
    member = unassigned.team.get(user=ana.user)
    assert member.referral_state == Referral.State.PENDING
    decision = routing.latest_routing_decision(case=unassigned)
    assert decision.trigger == RoutingDecision.Trigger.MANUAL
    assert decision.actor == agency_manager
    assert member.referral.routing_decision == decision


def test_route_automatically_on_an_assigned_case_changes_nothing(
    client, agency_manager, ana, the_rule, unassigned
):
    login(client, agency_manager)
    client.post(reverse("cases:route", args=[unassigned.pk]))
    response = client.post(reverse("cases:route", args=[unassigned.pk]), follow=True)
    assert "A partner agent is already on the Case Team." in response.content.decode()
    assert unassigned.routing_decisions.count() == 1
    assert unassigned.events.filter(verb=CaseEvent.Verb.ROUTED).count() == 1


def test_the_route_button_shows_only_to_managers_on_third_party_cases(
    client, agency_manager, caseworker, unassigned, snap
):
    team = reverse("cases:detail", args=[unassigned.pk, "team"])
    button = b"Route Automatically</button>"
    assert button in login(client, agency_manager).get(team).content
    approved = make_case(status=Case.Status.APPROVED, program=snap)
    assert button not in client.get(reverse("cases:detail", args=[approved.pk, "team"])).content
    client.logout()
    html = login(client, caseworker).get(team).content
    assert button not in html
    assert b"Why this agent" in html


def test_the_routing_page_routes_every_unassigned_case(client, agency_manager, ana, the_rule, snap):
    routing_services.assignment_rule_set_active(actor=None, rule=the_rule, active=False)
    cases = [make_case(status=Case.Status.THIRD_PARTY, program=snap, language="es") for _ in "ab"]
    for case in cases:
        record_consent(case, ana.organization)
    routing_services.assignment_rule_set_active(actor=None, rule=the_rule, active=True)
    page = login(client, agency_manager).get(reverse("cases:routing")).content.decode()
    assert "Route Unassigned Cases (2)" in page
    response = client.post(reverse("cases:routing_route_unassigned"), follow=True)
    assert "2 cases routed." in response.content.decode()
    assert all(c.team.filter(user=ana.user, is_active=True).exists() for c in cases)
    for case in cases:
        referral = case.referrals.get(agent=ana.user, state=Referral.State.PENDING)
        assert referral.routing_decision == case.routing_decisions.get()


def test_the_dry_run_page_shows_what_would_happen_and_writes_nothing(
    client, agency_manager, ana, the_rule, unassigned
):
    decisions, members = RoutingDecision.objects.count(), CaseTeamMember.objects.count()
    response = login(client, agency_manager).get(
        reverse("cases:routing_dry_run", args=[the_rule.pk])
    )
    html = response.content.decode()
    assert unassigned.number in html
    assert "Ana Alvarez" in html
    assert "Least loaded: 0 of 25 open cases; speaks Spanish; serves SNAP" in html
    assert (RoutingDecision.objects.count(), CaseTeamMember.objects.count()) == (
        decisions,
        members,
    )


def test_the_panel_lists_every_candidate_with_its_reason(
    agency_manager, northside, ana, the_rule, unassigned
):
    busy = PartnerAgentFactory(
        user=UserFactory(username="ben", first_name="Ben", last_name="Busy"),
        organization=northside,
        available=False,
    )
    decision = routing.case_route(actor=agency_manager, case=unassigned)
    request = RequestFactory().get("/")
    request.user = agency_manager
    html = render_to_string(
        "cases/includes/routing_panel.html",
        {"case": unassigned, "routing_decision": decision, "perms": None},
        request=request,
    )
    assert "Ana Alvarez" in html
    assert "Chosen" in html
    assert busy.user.get_full_name() in html
    assert "Not available" in html
    assert "Rule: " not in html  # the winner line names the rule
    assert "chosen by rule “Northside for all”" in html


def test_the_panel_says_so_when_the_case_was_never_routed(agency_manager, unassigned):
    html = render_to_string(
        "cases/includes/routing_panel.html", {"case": unassigned, "routing_decision": None}
    )
    assert "has not been routed automatically" in html
