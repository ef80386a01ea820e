"""My Cases: the portal home, its New asterisk, filters, sorting, pagination and queries."""

import re

import pytest
from django.urls import reverse
from guardian.shortcuts import get_objects_for_user

from cases import selectors as case_selectors
from cases import services
from cases.models import Case, CaseTeamMember
from portal import selectors
from tests.factories import PartnerAgentFactory, ProgramFactory, UserFactory

from .conftest import refer

pytestmark = pytest.mark.django_db

MY_CASES = "/portal/"
NEW_MARK = (
    '<span class="cwp-new-marker" aria-hidden="true">*</span>'
    '<span class="usa-sr-only">New case</span>'
)


def rows_of(html: str) -> list[str]:
    return re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)[1:]


def row_for(html: str, number: str) -> str:
    return next(row for row in rows_of(html) if number in row)


def listed_numbers(client, query: str = "") -> list[str]:
    html = client.get(MY_CASES + query).content.decode()
    return re.findall(r'<td class="cwp-nowrap">(CASE-[\d-]+)</td>', html)


def test_a_new_assignment_shows_the_asterisk_with_an_accessible_label(client, partner_agent):
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    html = client.get(MY_CASES).content.decode()
    assert NEW_MARK in row_for(html, case.number)
    assert 'class="usa-sr-only">1 new case</span>' in html  # the count in the navigation


def test_opening_the_case_clears_the_asterisk_only_for_that_agent(
    client, partner_agent, partner_colleague, agency_manager
):
    case, _ = refer(partner_agent)
    services.case_team_add(actor=agency_manager, case=case, user=partner_colleague)
    client.force_login(partner_agent)
    assert client.get(reverse("portal:case", args=[case.pk])).status_code == 200

    html = client.get(MY_CASES).content.decode()
    assert NEW_MARK not in row_for(html, case.number)
    assert "new case" not in html.split("<main", 1)[0]  # no count left in the navigation
    client.force_login(partner_colleague)
    assert NEW_MARK in row_for(client.get(MY_CASES).content.decode(), case.number)
    assert CaseTeamMember.objects.get(case=case, user=partner_colleague).seen_at is None


def test_a_second_opening_keeps_the_asterisk_cleared_and_records_each_view(client, partner_agent):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    client.get(reverse("portal:case", args=[case.pk]))
    member.refresh_from_db()
    first_seen = member.seen_at
    client.get(reverse("portal:case", args=[case.pk]))
    member.refresh_from_db()
    assert member.seen_at == first_seen
    assert case.events.filter(verb="viewed", actor=partner_agent).count() == 2


def test_my_cases_lists_only_the_agents_own_cases(
    client, partner_agent, partner_colleague, outsider
):
    mine, _ = refer(partner_agent, name="Mine")
    refer(partner_colleague, name="Colleague's")
    refer(outsider, name="Other organization's")
    client.force_login(partner_agent)
    assert listed_numbers(client) == [mine.number]


def test_a_partner_manager_sees_the_organizations_cases_with_an_agent_column(
    client, partner_agent, partner_colleague, outsider, partner_manager
):
    first, _ = refer(partner_agent)
    second, _ = refer(partner_colleague)
    refer(outsider)
    client.force_login(partner_manager)
    html = client.get(MY_CASES).content.decode()
    assert listed_numbers(client) == [second.number, first.number]
    assert ">Agent<" in html
    assert partner_colleague.get_full_name() in row_for(html, second.number)


def test_agents_see_no_agent_column(client, partner_agent):
    refer(partner_agent)
    client.force_login(partner_agent)
    assert ">Agent<" not in client.get(MY_CASES).content.decode()


def test_filters_narrow_the_list(client, partner_agent):
    snap = ProgramFactory(code="SNAP", name="SNAP")
    medicaid = ProgramFactory(code="MED", name="Medicaid")
    new, _ = refer(partner_agent, name="Garcia Household", program=snap)
    accepted, member = refer(partner_agent, name="Nguyen Household", program=medicaid)
    services.referral_accept(actor=partner_agent, referral=member.referral)
    services.case_mark_seen(user=partner_agent, case=accepted)
    client.force_login(partner_agent)

    assert listed_numbers(client, "?new=on") == [new.number]
    assert listed_numbers(client, "?state=accepted") == [accepted.number]
    assert listed_numbers(client, "?program=MED") == [accepted.number]
    assert listed_numbers(client, "?q=garcia") == [new.number]
    assert listed_numbers(client, f"?q={accepted.number[-4:]}") == [accepted.number]
    assert listed_numbers(client, "?q=nobody") == []
    html = client.get(MY_CASES + "?q=nobody").content.decode()
    assert "No cases match these filters" in html
    assert '<option value="MED">Medicaid</option>' in html  # choices even when empty


def test_unknown_filter_values_are_ignored_or_match_nothing(client, partner_agent):
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    assert listed_numbers(client, "?state=bogus&sort=password&page=x") == [case.number]
    assert listed_numbers(client, "?program=NOPE") == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("number", ["A", "B", "C"]),
        ("-number", ["C", "B", "A"]),
        ("name", ["B", "C", "A"]),
        ("-name", ["A", "C", "B"]),
        ("", ["C", "B", "A"]),  # newest assignment first
        ("assigned", ["A", "B", "C"]),
        ("new", ["C", "B", "A"]),  # never opened first, then newest assignment
    ],
)
def test_columns_sort_both_ways(client, partner_agent, sort, expected):
    cases = {}
    for n, (label, name) in enumerate((("A", "Zeta"), ("B", "Alpha"), ("C", "Mu")), start=1):
        cases[label], _ = refer(partner_agent, name=name, number=f"CASE-2026-90000{n}")
    services.case_mark_seen(user=partner_agent, case=cases["A"])
    client.force_login(partner_agent)
    numbers = listed_numbers(client, f"?sort={sort}" if sort else "")
    assert numbers == [cases[label].number for label in expected]


def test_the_sorted_column_says_so_and_links_to_the_reverse_order(client, partner_agent):
    refer(partner_agent)
    client.force_login(partner_agent)
    html = client.get(MY_CASES + "?sort=name&q=a").content.decode()
    header = re.search(r'<th scope="col" aria-sort="ascending"[^>]*>.*?</th>', html, re.S)[0]
    assert "Case Name" in header
    assert "?q=a&amp;sort=-name" in header


def test_the_list_pages_by_25_with_a_count(client, partner_agent):
    numbers = [refer(partner_agent)[0].number for _ in range(27)]
    client.force_login(partner_agent)
    html = client.get(MY_CASES).content.decode()
    assert "Showing 1\N{EN DASH}25 of 27 cases" in html
    assert 'class="usa-pagination"' in html
    assert len(listed_numbers(client)) == 25
    assert listed_numbers(client, "?page=2") == numbers[:2][::-1]
    assert listed_numbers(client, "?page=9") == numbers[:2][::-1]  # past the end: last page


def test_an_agent_without_cases_sees_an_empty_state(client, partner_agent):
    client.force_login(partner_agent)
    html = client.get(MY_CASES).content.decode()
    assert "No cases are assigned to you yet" in html
    assert "<table" not in html


def test_the_new_count_covers_the_same_rows_as_my_cases(
    partner_agent, partner_colleague, partner_manager
):
    refer(partner_agent)
    seen, _ = refer(partner_agent)
    refer(partner_colleague)
    services.case_mark_seen(user=partner_agent, case=seen)
    for user, expected in ((partner_agent, 1), (partner_colleague, 1), (partner_manager, 2)):
        page = selectors.my_cases_page(user=user, filters=selectors.MyCasesFilters())
        assert page.new_count == expected
        assert page.new_count == selectors.new_memberships(user=user).count()


def test_my_cases_agrees_with_an_independent_query_and_with_guardian(
    client, northside, harbor, agency_manager
):
    """SECURITY.md #3: over every page, filter and sort, for three agents in two
    organizations, My Cases lists exactly the cases an independent query finds."""
    agents = [
        PartnerAgentFactory(user=UserFactory(username=f"agent{n}"), organization=org).user
        for n, org in enumerate((northside, northside, harbor))
    ]
    programs = [ProgramFactory(code="SNAP", name="SNAP"), ProgramFactory(code="TANF", name="TANF")]
    for n in range(81):
        case, member = refer(agents[n % 3], program=programs[n % 2], name=f"Household {n}")
        if n % 4 == 0:
            services.referral_accept(actor=member.user, referral=member.referral)
        if n % 5 == 0:
            services.case_mark_seen(user=member.user, case=case)
        if n % 7 == 0 and member.user == agents[0]:  # a colleague on the same case
            services.case_team_add(actor=agency_manager, case=case, user=agents[1])
    for agent in agents:
        client.force_login(agent)
        memberships = CaseTeamMember.objects.filter(user=agent, is_active=True)
        expected = {
            "": memberships,
            "new=on": memberships.filter(seen_at__isnull=True),
            "state=accepted": memberships.filter(referral_state="accepted"),
            "program=TANF": memberships.filter(case__program__code="TANF"),
            "q=Household+1": memberships.filter(case__name__icontains="Household 1"),
            "sort=-name": memberships,
            "sort=program&new=on": memberships.filter(seen_at__isnull=True),
        }
        for query, rows in expected.items():
            numbers = sorted(rows.values_list("case__number", flat=True))
            listed = []
            for page in range(1, -(-len(numbers) // 25) + 1):
                listed += listed_numbers(client, f"?{query}&page={page}")
            assert sorted(listed) == numbers, query
        guardian = get_objects_for_user(agent, "cases.view_case", klass=Case, with_superuser=False)
        assert set(guardian) == set(case_selectors.cases_for_partner_agent(user=agent))
        assert len(memberships) > 25  # more than one page


def test_agency_users_get_403_and_anonymous_visitors_the_portal_sign_in(client, caseworker):
    assert client.get(MY_CASES)["Location"].startswith("/portal/login/")
    client.force_login(caseworker)
    assert client.get(MY_CASES).status_code == 403


def test_a_deactivated_agent_is_signed_out(client, partner_agent):
    refer(partner_agent)
    client.force_login(partner_agent)
    partner_agent.is_active = False
    partner_agent.save()
    assert client.get(MY_CASES)["Location"].startswith("/portal/login/")


# Query counts ------------------------------------------------------------------------------


def _referrals(agent_user, count: int) -> None:
    program = ProgramFactory(code="SNAP")
    for n in range(count):
        _, member = refer(agent_user, tabs=[], program=program, name=f"Case {n}")
        if n % 3 == 0:
            services.referral_accept(actor=agent_user, referral=member.referral)


@pytest.mark.parametrize("who", ["agent", "manager"])
def test_my_cases_takes_four_queries_for_1_or_200_cases(
    client, django_assert_num_queries, partner_agent, partner_manager, who
):
    """Session, user, partner profile, and one for the page (rows, total, New count and
    program choices): the same for 1 case and for 200, filtered, sorted or paged."""
    client.force_login(partner_agent if who == "agent" else partner_manager)
    _referrals(partner_agent, 1)
    client.get(MY_CASES)  # the first request after sign-in stamps the session
    with django_assert_num_queries(4):
        assert client.get(MY_CASES).status_code == 200
    _referrals(partner_agent, 199)
    for query in ("", "?q=Case&program=SNAP&sort=-name&page=3", "?new=on&sort=referral"):
        with django_assert_num_queries(4):
            response = client.get(MY_CASES + query)
        assert response.status_code == 200
        assert len(listed_numbers(client, query)) == 25


def test_only_a_filter_that_matches_nothing_costs_a_fifth_query(
    client, django_assert_num_queries, partner_agent
):
    """The page's facts ride on its rows; with no row, one more query brings them."""
    _referrals(partner_agent, 3)
    client.force_login(partner_agent)
    client.get(MY_CASES)
    with django_assert_num_queries(5):
        response = client.get(MY_CASES + "?q=no-such-case")
    assert "No cases match these filters" in response.content.decode()


def test_the_state_filter_finds_cases_in_progress_and_waitlisted(client, partner_agent):
    """Every open or finished referral state a My Cases row can be in can be filtered on."""
    working, member = refer(partner_agent, accepted=True)
    services.referral_start(actor=partner_agent, referral=member.referral)
    refer(partner_agent)  # pending
    client.force_login(partner_agent)
    assert listed_numbers(client, "?state=in_progress") == [working.number]
    html = client.get(MY_CASES).content.decode()
    for state in ("pending", "accepted", "in_progress", "waitlisted", "completed"):
        assert f'<option value="{state}"' in html, state
