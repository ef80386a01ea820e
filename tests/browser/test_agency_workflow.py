"""The agency workflow in Chromium, as an agency manager does it: find the case, approve it,
associate partners, refer it, assign a partner agent, and watch the partner's work arrive."""

import re

import pytest
from django.db import connection
from playwright.sync_api import expect

from cases import services
from cases.models import Case, CasePartner, CaseTeamMember, Referral
from tests.browsing import sign_in
from tests.factories import make_case, record_consent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def manual_routing_only(monkeypatch):
    """This workflow assigns the partner agent by hand; automatic routing is not in play."""
    monkeypatch.setattr("cases.routing.hooks.route_after_refer", lambda **kwargs: None)


def console_error(message, errors: list) -> None:
    """Script and CSP errors count; the browser's own favicon request does not. On SQLite
    the test database is shared-cache memory, which answers "table is locked" at once
    (no busy timeout) when a poll reads while this test writes: that poll gets 503 and
    the next one catches up, so a 503 of the live poll is not an error there."""
    if message.type != "error":
        return
    text = f"{message.text} {message.location.get('url', '')}"
    if text.rstrip().endswith("/favicon.ico"):
        return
    if connection.vendor == "sqlite" and "/live/" in text and "503" in text:
        return
    errors.append(text)


def test_an_agency_manager_refers_a_case_and_sees_the_partner_work_live(
    page, live_server, agency_manager, password, partner_agent, northside, harbor
):
    case = make_case(name="Household of Alvarez", applicant_name="Rosa Alvarez")
    record_consent(case, northside, actor=agency_manager)  # the client agreed at intake
    make_case(name="Household of Brennan")
    errors = []
    page.on("console", lambda message: console_error(message, errors))
    page.on("dialog", lambda dialog: dialog.accept())

    # Cases screen > Cases List: query for the case and drill down on its Case Name.
    sign_in(page, live_server.url, "/login/", "am", password)
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
    page.get_by_label("Search cases").fill("Alvarez")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name="Household of Brennan")).to_have_count(0)
    page.get_by_role("link", name="Household of Alvarez").click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case.pk}/")
    expect(page.get_by_role("heading", name="Household of Alvarez")).to_be_visible()

    # Approve, confirming the dialog.
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#case-status")).to_contain_text("Approved")

    # Partners: New, a predefined partner found by searching, saved: it is Primary.
    page.get_by_role("link", name="Partners", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case.pk}/partners/")
    page.get_by_role("link", name="New", exact=True).click()
    page.get_by_label("Search partner organizations").fill("North")
    expect(page.locator("#id_partner option")).to_have_count(1)
    page.get_by_role("button", name="Save").click()
    northside_row = page.get_by_role("row", name=re.compile("Northside Legal Aid"))
    expect(northside_row.locator(".cw-tag-primary")).to_have_text("Primary")

    # A second partner, then Make Primary on its row.
    page.get_by_role("link", name="New", exact=True).click()
    choice = page.get_by_role("combobox", name="Partner organization")
    # Each organization says whether the client's consent covers it.
    expect(choice.locator(f'option[value="{harbor.pk}"]')).to_contain_text("No consent")
    choice.select_option(value=str(harbor.pk))
    page.get_by_role("button", name="Save").click()
    harbor_row = page.get_by_role("row", name=re.compile("Harbor Family Services"))
    expect(harbor_row).to_be_visible()
    expect(harbor_row.locator(".cw-tag-primary")).to_have_count(0)
    harbor_row.get_by_role("button", name=re.compile("Make Primary")).click()
    expect(harbor_row.locator(".cw-tag-primary")).to_have_text("Primary")
    expect(northside_row.get_by_role("button", name=re.compile("Make Primary"))).to_be_visible()
    assert CasePartner.objects.get(case=case, is_primary=True).partner == harbor

    # Refer to Third-Party, then add the partner agent to the Case Team and Save.
    page.get_by_role("button", name="Refer to Third-Party").click()
    expect(page.locator("#case-status")).to_contain_text("Third-Party")
    page.get_by_role("link", name="Case Team", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case.pk}/team/")
    page.get_by_label("Person").select_option(value=str(partner_agent.pk))
    page.get_by_role("button", name="Save").click()
    agent_row = page.locator("#team-members").get_by_role(
        "row", name=re.compile(partner_agent.get_full_name())
    )
    expect(agent_row).to_contain_text("Pending")
    expect(agent_row).to_contain_text("Not yet opened")
    member = CaseTeamMember.objects.get(case=case, user=partner_agent, is_active=True)
    assert member.referral_state == Referral.State.PENDING
    assert Case.objects.get(pk=case.pk).status == Case.Status.THIRD_PARTY

    # The partner works the case; the open page shows it without a reload.
    page.evaluate("window.caseworksNoReload = true")
    services.referral_accept(actor=partner_agent, referral=member.referral)
    feed = page.locator("#live-feed")
    expect(feed).to_contain_text("Accepted the referral", timeout=5_000)
    expect(agent_row).to_contain_text("Accepted", timeout=5_000)
    expect(page.locator("#team-summary")).to_contain_text("Accepted")
    # Recording work needs the accepted referral (and puts it in progress).
    services.record_add(
        actor=partner_agent, case=case, kind="notes", body="Met Rosa at home; lease copied."
    )
    expect(feed).to_contain_text("Added a Note: Met Rosa at home", timeout=5_000)
    assert page.evaluate("window.caseworksNoReload") is True
    assert errors == []


def test_the_notes_tab_shows_a_partner_note_as_it_arrives(
    page, live_server, agency_manager, password, partner_agent
):
    case = make_case(status=Case.Status.THIRD_PARTY)
    record_consent(case, partner_agent.partner_agent.organization, actor=agency_manager)
    member = services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    sign_in(page, live_server.url, "/login/", "am", password)
    page.goto(f"{live_server.url}/cases/{case.pk}/notes/")
    expect(page.get_by_role("heading", name="Notes")).to_be_visible()
    page.evaluate("window.caseworksNoReload = true")
    services.referral_accept(actor=partner_agent, referral=member.referral)
    services.record_add(actor=partner_agent, case=case, kind="notes", body="Called the landlord")
    note = page.locator("#records-list .cw-note", has_text="Called the landlord")
    expect(note).to_be_visible(timeout=5_000)
    expect(note).to_contain_text("Partner")
    assert page.evaluate("window.caseworksNoReload") is True
