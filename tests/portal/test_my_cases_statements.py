"""My Cases' compiled page statements (PostgreSQL): each request that reuses the statement
compiled for its page's shape must get exactly the rows the ORM would have fetched."""

import itertools

import pytest
from django.db import connection

from cases import services
from portal import selectors
from tests.factories import PartnerAgentFactory, ProgramFactory, UserFactory

from .conftest import refer

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statements are compiled on PostgreSQL only"
)
SORTS = ["", *selectors.MY_CASES_SORTS, *(f"-{key}" for key in selectors.MY_CASES_SORTS)]


def through_the_orm(user, filters: selectors.MyCasesFilters, number: int) -> list[dict]:
    scope, matching = selectors._page_querysets(user=user, filters=filters)
    manager = user.partner_agent.is_manager
    ended = selectors.EndedAccess.of(user=user, agent=user.partner_agent)
    page = selectors._page_query(
        scope=scope,
        matching=matching,
        sort=filters.sort,
        number=number,
        manager=manager,
        ended=ended,
    )
    return list(page)


@pytest.fixture
def caseload(northside, partner_agent, partner_colleague, partner_manager):
    """30 referrals over two agents and two programs, some accepted, some opened."""
    programs = [ProgramFactory(code="SNAP", name="SNAP"), ProgramFactory(code="TANF", name="TANF")]
    for n in range(30):
        agent = partner_agent if n % 3 else partner_colleague
        case, member = refer(agent, program=programs[n % 2], name=f"Household {n:02d}")
        if n % 4 == 0:
            services.referral_accept(actor=agent, referral=member.referral)
        if n % 5 == 0:
            services.case_mark_seen(user=agent, case=case)
        if n % 7 == 0:  # the client withdrew consent: a notice instead of a row
            consent = case.consents.get()
            services.consent_revoke(actor=case.owner, consent=consent, reason="Client asked")
    return [partner_agent, partner_colleague, partner_manager]


@on_postgres
def test_every_page_shape_gets_the_rows_the_orm_gets(caseload):
    selectors._statement.cache_clear()
    shapes = itertools.product(
        SORTS, [False, True], ["", "accepted", "pending"], ["", "TANF", "NONE"], [1, 2, 3]
    )
    for sort, new_only, state, program, number in shapes:
        filters = selectors.MyCasesFilters(
            new_only=new_only, referral_state=state, program=program, sort=sort, page=number
        )
        for user in caseload:
            compiled = selectors._fetch_compiled(
                user=user, agent=user.partner_agent, filters=filters, number=number
            )
            assert compiled is not None, filters
            assert compiled == through_the_orm(user, filters, number), (user, filters)
    assert selectors._statement.cache_info().hits > 0


@on_postgres
def test_one_compiled_statement_serves_every_user_of_its_shape(caseload):
    selectors._statement.cache_clear()
    filters = selectors.MyCasesFilters()
    for user in caseload[:2]:
        rows = selectors._fetch_compiled(
            user=user, agent=user.partner_agent, filters=filters, number=1
        )
        assert rows == through_the_orm(user, filters, 1)
    info = selectors._statement.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_a_search_and_sqlite_take_the_orm(caseload):
    user = caseload[0]
    searched = selectors.MyCasesFilters(query="Household 1")
    assert (
        selectors._fetch_compiled(user=user, agent=user.partner_agent, filters=searched, number=1)
        is None
    )
    page = selectors.my_cases_page(user=user, filters=searched)
    assert {row["name"] for row in page.rows} == {
        f"Household {n}" for n in range(10, 20) if n % 3 and n % 7
    }
    if connection.vendor != "postgresql":
        plain = selectors.MyCasesFilters()
        assert (
            selectors._fetch_compiled(user=user, agent=user.partner_agent, filters=plain, number=1)
            is None
        )


@on_postgres
def test_an_inactive_user_or_a_user_without_a_partner_profile_gets_nothing(caseload):
    user = caseload[0]
    user.is_active = False
    filters = selectors.MyCasesFilters()
    assert (
        selectors._fetch_compiled(user=user, agent=user.partner_agent, filters=filters, number=1)
        is None
    )
    assert selectors.my_cases_page(user=user, filters=filters).rows == []
    stranger = UserFactory(username="no-profile")
    assert selectors.my_cases_page(user=stranger, filters=filters).rows == []


@on_postgres
def test_a_managers_compiled_page_lists_the_organizations_cases_only(caseload, harbor):
    outsider = PartnerAgentFactory(user=UserFactory(username="elsewhere"), organization=harbor).user
    refer(outsider, name="Across town")
    manager = caseload[2]
    manager.partner_agent.refresh_from_db()  # as each request loads it: the notice marks
    page = selectors.my_cases_page(user=manager, filters=selectors.MyCasesFilters())
    assert page.total == 25  # 30 referred, 5 withdrawn consents
    assert len(page.ended) == selectors.NOTICES
    assert "Across town" not in {row["name"] for row in page.rows}
    assert {row["agent"] for row in page.rows} <= {
        caseload[0].get_full_name() or caseload[0].username,
        caseload[1].get_full_name() or caseload[1].username,
    }


@on_postgres
def test_with_the_compiled_path_off_my_cases_is_the_same_page_through_the_orm(caseload, settings):
    filters = selectors.MyCasesFilters(sort="-number", page=2)
    compiled = [selectors.my_cases_page(user=user, filters=filters) for user in caseload]
    settings.MY_CASES_COMPILED_SQL = False
    selectors._statement.cache_clear()
    user = caseload[0]
    assert (
        selectors._fetch_compiled(user=user, agent=user.partner_agent, filters=filters, number=2)
        is None
    )
    plain = [selectors.my_cases_page(user=user, filters=filters) for user in caseload]
    assert [page.rows for page in plain] == [page.rows for page in compiled]
    assert [page.total for page in plain] == [page.total for page in compiled]
    assert selectors._statement.cache_info().misses == 0


@on_postgres
def test_compiled_rows_are_read_by_column_name_as_the_orms(caseload):
    user = caseload[2]  # a manager: the agent's name columns too
    filters = selectors.MyCasesFilters()
    rows = selectors._fetch_compiled(user=user, agent=user.partner_agent, filters=filters, number=1)
    assert rows
    assert set(rows[0]) == {
        *selectors._ROW_FIELDS,
        *selectors._AGENT_FIELDS,
        "page_total",
        "page_new_count",
        "page_program_choices",
        "page_ended",
    }
    assert rows[0]["page_total"] == 25
    assert rows == through_the_orm(user, filters, 1)


@on_postgres
def test_an_unknown_sort_shares_the_default_sorts_statement(caseload):
    selectors._statement.cache_clear()
    user = caseload[0]
    for sort in ("-assigned", "bogus", "-also-bogus", "x" * 50):
        filters = selectors.MyCasesFilters(sort=sort)
        selectors._fetch_compiled(user=user, agent=user.partner_agent, filters=filters, number=1)
    info = selectors._statement.cache_info()
    assert (info.misses, info.currsize) == (1, 1)
