"""The Case Team's Person select in a large agency: every partner agent listed while they are
few, and past `PICKER_LIMIT` only the case's partners' agents plus a search for the others.
The limits are lowered here instead of building a hundred agents."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases import forms, services
from cases.models import Case, CaseTeamMember, Consent, Referral
from cases.records import Tab
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

NOT_ELIGIBLE = "Choose a person who is not on the Case Team yet."
SEARCH = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "team-person"}


def team_url(case) -> str:
    return f"/cases/{case.pk}/team/"


def options(html: str) -> dict[str, str]:
    """The Person select's options, value to label."""
    select = re.search(r'<select name="user".*?</select>', html, re.S).group(0)
    return dict(re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', select))


def groups(html: str) -> list[str]:
    select = re.search(r'<select name="user".*?</select>', html, re.S).group(0)
    return re.findall(r'<optgroup label="([^"]*)"', select)


def consent_until(case, organization) -> str:
    """An organization's group label when the client's consent covers it."""
    ends_on = Consent.objects.get(case=case, organization=organization).ends_on
    return f"{organization.name} · Consent until {ends_on:%b %-d, %Y}"


def agent(username, organization, first_name, last_name):
    return PartnerAgentFactory(
        user=UserFactory(username=username, first_name=first_name, last_name=last_name),
        organization=organization,
    ).user


@pytest.fixture
def wide(monkeypatch):
    """More than two partner agents who may join is "many"."""
    monkeypatch.setattr(forms, "PICKER_LIMIT", 2)


@pytest.fixture
def case(agency_manager, northside):
    """A Third-Party case with Northside Legal Aid as its partner (its PA on the team)."""
    case, _member = make_referral(
        agent_user=agent("pa", northside, "Paula", "Arden"), actor=agency_manager
    )
    return case


@pytest.fixture
def people(case, northside, harbor):
    """Northside's Nadia Birch (the case's partner); Harbor's Quentin Marsh and Rhea Vance."""
    return {
        "nadia": agent("nb", northside, "Nadia", "Birch"),
        "quentin": agent("qm", harbor, "Quentin", "Marsh"),
        "rhea": agent("rv", harbor, "Rhea", "Vance"),
    }


def test_under_the_limit_every_partner_agent_is_listed_and_there_is_no_search(
    manager_client, case, people, northside
):
    html = manager_client.get(team_url(case)).content.decode()
    listed = options(html)
    assert {str(u.pk) for u in people.values()} <= set(listed)
    # Each organization with its consent state (the client consented to Northside only).
    assert groups(html) == [
        "Agency staff",
        "Harbor Family Services · No consent",
        consent_until(case, northside),
    ]
    assert "Find a partner agent" not in html
    assert "Agency staff, or an agent of an active partner organization." in html


def test_over_the_limit_only_the_case_partners_agents_are_listed_with_a_search(
    manager_client, agency_manager, case, people, wide, northside
):
    html = manager_client.get(team_url(case)).content.decode()
    listed = options(html)
    assert str(people["nadia"].pk) in listed
    assert str(people["quentin"].pk) not in listed and str(people["rhea"].pk) not in listed
    assert groups(html) == ["Agency staff", consent_until(case, northside)]
    assert listed[str(agency_manager.pk)]
    assert '<label class="usa-label" for="id_person_q">Find a partner agent</label>' in html
    field = re.search(r'<input[^>]*id="id_person_q"[^>]*>', html, re.S).group(0)
    assert 'type="search"' in field and 'name="person_q"' in field
    assert f'hx-get="{team_url(case)}"' in field
    assert 'hx-trigger="input changed delay:300ms"' in field
    assert 'hx-target="#team-person"' in field and 'hx-select="#team-person"' in field
    # Without script: the field and its Find button belong to a GET form of the tab.
    assert 'form="team-find"' in field
    assert f'<form id="team-find" method="get" action="{team_url(case)}"' in html
    assert 'type="submit" form="team-find">Find</button>' in html
    assert "Find any of the 3 partner agents who may join" in html


@pytest.mark.parametrize("query", ["mars", "QUENT", "qm", "harbor", "quentin marsh"])
def test_a_search_by_name_user_name_or_organization_lists_the_agent(
    manager_client, case, people, wide, query
):
    html = manager_client.get(team_url(case), {"person_q": query}).content.decode()
    listed = options(html)
    assert listed[str(people["quentin"].pk)] == "Quentin Marsh (qm)"
    assert str(people["nadia"].pk) in listed  # the case's partners stay listed
    assert f'value="{query}"' in html  # the field keeps what was typed


def test_a_search_typed_replaces_the_select_with_the_matches_and_says_how_many(
    manager_client, case, people, wide, northside
):
    response = manager_client.get(team_url(case), {"person_q": "harbor"}, **SEARCH)
    html = response.content.decode()
    assert 'id="team-person"' in html
    assert set(options(html)) >= {str(people["quentin"].pk), str(people["rhea"].pk)}
    assert groups(html) == [
        "Agency staff",
        consent_until(case, northside),
        "Harbor Family Services · No consent",
    ]
    assert "2 partner agents match “harbor”." in html
    assert "Showing the first" not in html

    html = manager_client.get(team_url(case), {"person_q": "vance"}, **SEARCH).content.decode()
    assert "1 partner agent matches “vance”." in html
    assert str(people["quentin"].pk) not in options(html)

    html = manager_client.get(team_url(case), {"person_q": "zzz"}, **SEARCH).content.decode()
    assert "No partner agent matches “zzz”." in html


def test_more_matches_than_listed_shows_the_first_ones_and_asks_for_more_of_the_name(
    manager_client, case, people, wide, harbor, monkeypatch
):
    monkeypatch.setattr(forms, "PICKER_MATCHES", 2)
    agent("hz", harbor, "Zoe", "Hart")
    html = manager_client.get(team_url(case), {"person_q": "harbor"}).content.decode()
    assert "3 partner agents match “harbor”. Showing the first 2: type more of the name." in (html)
    listed = options(html)
    # By organization, then first name: Quentin and Rhea, not Zoe.
    assert str(people["quentin"].pk) in listed and str(people["rhea"].pk) in listed
    assert "Zoe Hart (hz)" not in listed.values()


def test_a_search_is_shown_escaped(manager_client, case, people, wide):
    html = manager_client.get(
        team_url(case), {"person_q": '<script>alert("x")</script>'}
    ).content.decode()
    assert "<script>alert" not in html
    assert "No partner agent matches “&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;”." in html


def test_an_eligible_agent_who_was_not_listed_can_be_added(
    manager_client, case, people, wide, harbor
):
    harbor.default_tabs = [Tab.NOTES]
    harbor.save()
    record_consent(case, harbor)
    quentin = people["quentin"]
    assert str(quentin.pk) not in options(manager_client.get(team_url(case)).content.decode())
    # Picking Quentin from a search's options re-ticks Harbor's default tabs.
    html = manager_client.get(
        team_url(case),
        {"user": quentin.pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="team-tab-choices",
    ).content.decode()
    assert re.findall(r'value="(\w+)" checked', html) == ["notes"]

    response = manager_client.post(
        f"/cases/{case.pk}/team/add/", {"user": quentin.pk, "tabs": ["notes"]}, follow=True
    )
    assert "Quentin Marsh (qm) added to the Case Team: the referral is pending" in (
        response.content.decode()
    )
    member = case.team.get(user=quentin)
    assert member.referral_state == Referral.State.PENDING and member.tabs == ["notes"]
    assert member.referral.state == Referral.State.PENDING
    assert member.referral.organization == harbor
    assert member.referral.due_at is not None


def test_a_refused_post_keeps_the_unlisted_person_chosen(manager_client, people, wide):
    # The case is not Third-Party yet: the service refuses, the form comes back.
    case = make_case(status=Case.Status.APPROVED)
    quentin = people["quentin"]
    html = manager_client.post(f"/cases/{case.pk}/team/add/", {"user": quentin.pk}).content.decode()
    assert "Refer the case to Third-Party before assigning a partner agent." in html
    assert f'<option value="{quentin.pk}" selected>Quentin Marsh (qm)</option>' in html


@pytest.mark.parametrize("limit", [2, 100])
def test_someone_on_the_team_inactive_or_of_an_inactive_organization_is_refused(
    manager_client, case, people, monkeypatch, limit
):
    monkeypatch.setattr(forms, "PICKER_LIMIT", limit)
    closed = PartnerOrganizationFactory(name="Closed Partner", active=False)
    refused = {
        "on the team": case.team.get(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT).user,
        "inactive organization": agent("io", closed, "Ivo", "Ortiz"),
        "inactive agency user": UserFactory(
            username="gone", is_active=False, roles=[Role.AGENCY_CASEWORKER]
        ),
        "unknown": None,
    }
    members = case.team.count()
    for who, user in refused.items():
        value = user.pk if user else 99_999_999_999_999_999_999
        response = manager_client.post(f"/cases/{case.pk}/team/add/", {"user": value})
        assert response.status_code == 200, who
        assert NOT_ELIGIBLE in response.content.decode(), who
    assert case.team.count() == members


def _team_tab_queries(client, case) -> list[int]:
    """Queries of the team tab loaded by htmx, then of a search typed in it."""
    counts = []
    for params in ({}, {"person_q": "able"}):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(team_url(case), params, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        counts.append(len(queries))
    return counts


def test_the_team_tab_query_count_is_the_same_with_1_and_with_50_agents_over_the_limit(
    manager_client, agency_manager, monkeypatch
):
    monkeypatch.setattr(forms, "PICKER_LIMIT", 0)
    case = make_case(status=Case.Status.THIRD_PARTY, actor=agency_manager)
    partner = PartnerOrganizationFactory(name="Partner of the case")
    services.partner_add(actor=agency_manager, case=case, partner=partner)
    agent("a-0", partner, "Ann", "Able 0")
    _team_tab_queries(manager_client, case)  # warms the content type and permission caches
    one = _team_tab_queries(manager_client, case)
    for n in range(1, 25):
        agent(f"a-{n}", partner, "Ann", f"Able {n}")
    for n in range(25):
        agent(f"b-{n}", PartnerOrganizationFactory(name=f"Other {n}"), "Ben", f"Able {n}")
    fifty = _team_tab_queries(manager_client, case)
    assert fifty == one
    html = manager_client.get(team_url(case), {"person_q": "able"}).content.decode()
    assert "50 partner agents match “able”." in html
    assert sum(label.startswith(("Ann Able", "Ben Able")) for label in options(html).values()) == 50
