"""The Case Team's partner agent search in Chromium, in an agency with more partner agents
than the Person select lists (the limit lowered): typed, and with script switched off."""

import re

import pytest
from playwright.sync_api import expect

from cases import forms, services
from cases.models import Case, CaseTeamMember
from cases.records import Tab
from tests.browsing import sign_in
from tests.factories import (
    PartnerAgentFactory,
    UserFactory,
    make_case,
    record_consent,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def case(monkeypatch, agency_manager, northside, harbor):
    """A Third-Party case with Northside as its partner; Harbor's Quentin Marsh is one of
    the partner agents the select does not list until searched for."""
    monkeypatch.setattr("cases.routing.hooks.route_after_refer", lambda **kwargs: None)
    monkeypatch.setattr(forms, "PICKER_LIMIT", 2)
    harbor.default_tabs = [Tab.NOTES]
    harbor.save()
    for username, organization, first, last in (
        ("nb", northside, "Nadia", "Birch"),
        ("qm", harbor, "Quentin", "Marsh"),
        ("rv", harbor, "Rhea", "Vance"),
    ):
        PartnerAgentFactory(
            user=UserFactory(username=username, first_name=first, last_name=last),
            organization=organization,
        )
    case = make_case(status=Case.Status.THIRD_PARTY, actor=agency_manager)
    services.partner_add(actor=agency_manager, case=case, partner=northside)
    for organization in (northside, harbor):
        record_consent(case, organization, actor=agency_manager)
    return case


def test_typing_a_name_lists_the_agent_who_is_then_added(
    page, live_server, password, case, agency_manager
):
    sign_in(page, live_server.url, "/login/", "am", password)
    page.goto(f"{live_server.url}/cases/{case.pk}/team/")
    person = page.get_by_label("Person")
    expect(person.locator("option", has_text="Nadia Birch")).to_have_count(1)
    expect(person.locator("option", has_text="Quentin Marsh")).to_have_count(0)

    page.get_by_label("Find a partner agent").press_sequentially("mars")
    expect(page.locator("#team-person")).to_contain_text("1 partner agent matches “mars”.")
    person = page.get_by_label("Person")
    person.select_option(label="Quentin Marsh (qm)")
    # Harbor's default tabs are ticked for him.
    expect(page.get_by_label("Notes", exact=True)).to_be_checked()
    expect(page.get_by_label("Activities", exact=True)).not_to_be_checked()
    page.get_by_role("button", name="Save").click()
    row = page.locator("#team-members").get_by_role("row", name=re.compile("Quentin Marsh"))
    expect(row).to_contain_text("Pending")
    member = CaseTeamMember.objects.get(case=case, user__username="qm", is_active=True)
    assert member.tabs == [Tab.NOTES]


def test_without_script_find_reloads_the_tab_with_the_matches(browser, live_server, password, case):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "/login/", "am", password)
        page.goto(f"{live_server.url}/cases/{case.pk}/team/")
        page.get_by_label("Find a partner agent").fill("harbor")
        page.get_by_role("button", name="Find").click()
        expect(page).to_have_url(f"{live_server.url}/cases/{case.pk}/team/?person_q=harbor")
        expect(page.locator("#team-person")).to_contain_text("2 partner agents match “harbor”.")
        person = page.get_by_label("Person")
        expect(person.locator("option", has_text="Rhea Vance")).to_have_count(1)
        person.select_option(label="Rhea Vance (rv)")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#team-members")).to_contain_text("Rhea Vance")
        assert CaseTeamMember.objects.filter(case=case, user__username="rv").exists()
    finally:
        context.close()
