"""The workflow of DESIGN.md, walked in Chromium by each of its people, on the demo data.

Agency manager: query the Cases List, drill down on Case Name, Approve, Partners > New,
Primary, Refer to Third-Party, Case Team > add > Save; Route Automatically.
Partner agent: sign in to the Partner Portal, the New asterisk, the case and its view tabs,
Accept, a note and an attachment. Agency oversight: the partner's note appears on the open
case page without reloading it. Partner manager: reassignment. Admin: find a case, fire a
transition from the change form.
"""

import io
import re
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from cases import routing, services
from cases.models import AssignmentRule, Case, CaseTeamMember, Note, Referral
from cases.records import Tab
from demo.data import DEMO_PASSWORD
from demo.management.commands.load_demo import load_demo_rules, pdf_document
from partners.models import PartnerOrganization
from tests.browsing import sign_in
from tests.factories import record_consent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

State = Referral.State


@pytest.fixture
def demo(transactional_db):
    """The `make run` demo data, loaded by its own command."""
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture
def confirm(page):
    """Accept the confirmation dialogs of state-changing buttons, remembering their text."""
    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return messages


def agency_sign_in(page, base_url: str, username: str) -> None:
    sign_in(page, base_url, "/login/", username, DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()


def portal_sign_in(page, base_url: str, username: str) -> None:
    sign_in(page, base_url, "/portal/login/", username, DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()


def open_tab(page, label: str) -> None:
    """Open a view tab of a case page (htmx swaps the panel and pushes the tab's URL)."""
    page.get_by_role("navigation", name=re.compile("Case views|View tabs")).get_by_role(
        "link", name=label, exact=True
    ).click()
    expect(page.get_by_role("link", name=label, exact=True)).to_have_attribute(
        "aria-current", "page"
    )


def my_cases_row(page, case: Case):
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=case.name, exact=True))


def served_by(organization: PartnerOrganization, status: str):
    """Cases in `status` whose program the organization serves."""
    return Case.objects.filter(
        status=status, program__code__in=organization.programs_served
    ).order_by("number")


# Agency manager --------------------------------------------------------------------------


def test_the_agency_manager_approves_a_case_and_refers_it_to_a_partner_agent_by_hand(
    page, live_server, browser, demo, confirm
):
    # The manager routes this case by hand: no routing rule steps in on the referral.
    AssignmentRule.objects.update(active=False)
    northside = PartnerOrganization.objects.get(name="Northside Legal Aid")
    case = served_by(northside, Case.Status.OPEN).first()

    agency_sign_in(page, live_server.url, "manager")
    # Query the Cases List and drill down on Case Name.
    page.get_by_label("Search cases").fill(case.number)
    results = page.locator("#case-results")
    expect(results.get_by_role("row")).to_have_count(2)  # the header and the one case
    results.get_by_role("link", name=case.name).click()
    expect(page.get_by_role("heading", level=1, name=case.name)).to_be_visible()
    expect(page.locator("#case-status")).to_contain_text("Open")

    # Approve (after the confirmation).
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".cw-messages")).to_contain_text(f"Case {case.number} approved.")
    assert confirm[-1] == f"Approve case {case.number}? It has met the eligibility criteria."
    expect(page.locator("#case-status")).to_contain_text("Approved")

    # Partners > New > a predefined partner: the first one becomes Primary.
    open_tab(page, "Partners")
    page.get_by_role("link", name="New", exact=True).click()
    choice = page.get_by_role("combobox", name="Partner organization")
    # No consent yet: the choice says so (the Consent tab records it below).
    expect(choice.locator(f'option[value="{northside.pk}"]')).to_contain_text("No consent")
    choice.select_option(value=str(northside.pk))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#case-tabs .cw-messages")).to_contain_text(
        "Northside Legal Aid associated with the case as Primary."
    )
    partner_row = page.locator("#partners-table").get_by_role("row", name=re.compile("Northside"))
    expect(partner_row.locator(".usa-tag")).to_have_text("Primary")

    # Refer to Third-Party.
    page.get_by_role("button", name="Refer to Third-Party").click()
    expect(page.locator("#case-status")).to_contain_text("Third-Party")
    expect(page.locator("#case-status")).to_contain_text("Northside Legal Aid")

    # Consent: the client's consent for Northside Legal Aid, recorded before the referral.
    open_tab(page, "Consent")
    page.get_by_role("link", name="Record a consent").first.click()
    page.get_by_label("Recipient").select_option(label="Northside Legal Aid")
    page.get_by_label("Purpose").fill("Legal help with the benefits case")
    for tab in ("Activities", "Attachments", "Service Requests", "Notes"):
        page.locator("label.usa-checkbox__label", has_text=re.compile(f"^{tab}$")).click()
    page.locator("label.usa-radio__label", has_text=re.compile("^Electronic signature$")).click()
    page.get_by_role("button", name="Record consent").click()
    expect(page.locator(".cw-consent", has_text="Northside Legal Aid")).to_contain_text("Active")

    # Case Team: add the partner agent and Save.
    open_tab(page, "Case Team")
    priya = get_user_model().objects.get(username="partner")
    page.get_by_role("combobox", name="Person").select_option(value=str(priya.pk))
    # Picking the agent ticks the tabs her organization shares by default.
    expect(page.get_by_label("Attachments")).to_be_checked()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#case-tabs .cw-messages")).to_contain_text(
        "Priya Natarajan (partner) added to the Case Team: the referral is pending"
    )
    member_row = page.locator("#team-members").get_by_role("row", name=re.compile("Priya"))
    expect(member_row).to_contain_text("Pending")
    expect(member_row).to_contain_text("Not yet opened")

    # The case is now in the agent's My Cases, with the asterisk in New.
    partner = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        partner_page = partner.new_page()
        portal_sign_in(partner_page, live_server.url, "partner")
        row = my_cases_row(partner_page, case)
        expect(row).to_contain_text("New case")
        expect(row).to_contain_text("Pending")
    finally:
        partner.close()


def test_the_agency_manager_routes_an_unassigned_third_party_case_automatically(
    page, live_server, demo
):
    load_demo_rules()  # what `make run` has; a no-op when the demo made them
    northside = PartnerOrganization.objects.get(name="Northside Legal Aid")
    case = served_by(northside, Case.Status.OPEN).filter(language__in=northside.languages)[0]
    # Approved and referred while routing was off: a Third-Party case with no partner agent.
    manager = get_user_model().objects.get(username="manager")
    with mock.patch("cases.routing.hooks.route_after_refer", lambda **kwargs: None):
        for name in ("approve", "refer"):
            case = services.case_transition(actor=manager, case=case, name=name)
    # The client's consent for Northside Legal Aid: routing takes only a consented partner.
    record_consent(case, northside, actor=manager)
    assert not routing.latest_routing_decision(case=case)

    agency_sign_in(page, live_server.url, "manager")
    page.get_by_role("link", name="Referrals", exact=True).click()
    page.get_by_label("Show").select_option(label="No partner agent")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name=case.name).click()
    open_tab(page, "Case Team")
    expect(page.get_by_text("This case has not been routed automatically.")).to_be_visible()

    page.get_by_role("button", name="Route Automatically").click()
    expect(page.locator(".cw-messages")).to_contain_text(
        re.compile(rf"Case {case.number} routed to .+ \(Northside Legal Aid\) by rule")
    )
    member = case.team.get(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT)
    name = member.user.get_full_name()
    expect(page.locator("#team-members").get_by_role("row", name=re.compile(name))).to_contain_text(
        "Pending"
    )
    why = page.get_by_role("region", name="Why this agent")
    expect(why).to_contain_text(name)
    expect(why).to_contain_text("Route Automatically")


# Partner agent ---------------------------------------------------------------------------


def new_referral(username: str, *, with_tab: str = Tab.ATTACHMENTS) -> CaseTeamMember:
    """A pending referral the agent has not opened yet, whose tabs include `with_tab`."""
    members = CaseTeamMember.objects.filter(
        user__username=username, is_active=True, referral_state=State.PENDING, seen_at=None
    ).select_related("case")
    return next(m for m in members.order_by("case__number") if with_tab in m.tabs)


def test_the_partner_agent_accepts_a_new_case_and_records_a_note_and_an_attachment(
    page, live_server, demo, tmp_path
):
    member = new_referral("partner")
    case = member.case

    portal_sign_in(page, live_server.url, "partner")
    row = my_cases_row(page, case)
    expect(row.locator(".cwp-new-marker")).to_have_text("*")
    expect(row).to_contain_text("New case")
    row.get_by_role("link", name=case.name).click()

    # The case details form and its view tabs.
    expect(page.get_by_role("heading", level=1, name=case.name)).to_be_visible()
    expect(page.get_by_role("region", name="Case details")).to_contain_text(case.number)
    tabs = page.get_by_role("navigation", name="View tabs")
    for label in ("Activities", "Attachments", "Service Requests", "Notes"):
        expect(tabs.get_by_role("link", name=label, exact=True)).to_be_visible()
    open_tab(page, "Service Requests")
    open_tab(page, "Activities")
    expect(page.get_by_role("heading", name="Your referral: Pending")).to_be_visible()

    # Accept.
    page.get_by_role("button", name="Accept case").click()
    expect(page.get_by_role("heading", name="Your referral: Accepted")).to_be_visible()
    expect(page.locator(".cw-messages")).to_contain_text(f"You accepted {case.number}.")

    # A note.
    open_tab(page, "Notes")
    page.get_by_text("Add note").click()
    body = "Called the applicant; the hearing is set for next Tuesday."
    page.get_by_role("textbox", name="Note").fill(body)
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("#case-tabs [role=status]")).to_contain_text(
        "Note added. The agency sees it now."
    )
    expect(page.locator(".cwp-notes")).to_contain_text(body)

    # An attachment: a real PDF, uploaded and downloaded again.
    open_tab(page, "Attachments")
    page.get_by_text("Add attachment").click()
    pdf = pdf_document("Retainer agreement", ["Signed by the applicant."])
    upload = tmp_path / "retainer-agreement.pdf"
    upload.write_bytes(pdf)
    page.get_by_label("File").set_input_files(upload)
    page.get_by_label("Description").fill("Signed retainer")
    page.get_by_role("button", name="Save attachment").click()
    expect(page.locator("#case-tabs [role=status]")).to_contain_text("Attachment added.")
    link = page.get_by_role("link", name="retainer-agreement.pdf (download)")
    with page.expect_download() as download:
        link.click()
    assert download.value.path().read_bytes() == pdf

    # Back in My Cases: opened, so no asterisk; in progress since the first record.
    page.get_by_role("link", name="My Cases", exact=False).first.click()
    row = my_cases_row(page, case)
    expect(row).to_contain_text("In progress")
    expect(row.locator(".cwp-new-marker")).to_have_count(0)


# Agency oversight ------------------------------------------------------------------------


def test_the_partners_note_appears_on_the_open_agency_case_page_without_a_reload(
    page, live_server, browser, demo
):
    member = (
        CaseTeamMember.objects.filter(
            user__username="partner", is_active=True, referral_state=State.ACCEPTED
        )
        .select_related("case")
        .order_by("case__number")
        .first()
    )
    case = member.case

    # The agency keeps the case open on its Notes tab.
    agency_sign_in(page, live_server.url, "manager")
    page.goto(f"{live_server.url}/cases/{case.pk}/notes/")
    expect(page.get_by_role("heading", name="Oversight")).to_be_visible()
    page.evaluate("window.caseworksNotReloaded = true")

    # The partner, side by side, adds a note.
    body = "Partner update: documents received from the landlord's attorney."
    partner = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        partner_page = partner.new_page()
        portal_sign_in(partner_page, live_server.url, "partner")
        partner_page.goto(f"{live_server.url}/portal/cases/{case.pk}/notes/")
        partner_page.get_by_text("Add note").click()
        partner_page.get_by_role("textbox", name="Note").fill(body)
        partner_page.get_by_role("button", name="Save note").click()
        expect(partner_page.locator("#case-tabs [role=status]")).to_contain_text("Note added.")
    finally:
        partner.close()
    assert Note.objects.filter(case=case, body=body, by_partner=True).exists()

    # Within a few polls the agency page shows it, in the feed and in the open Notes tab.
    feed = page.locator("#live-feed")
    expect(feed.locator(".cw-feed__item").first).to_contain_text("Priya Natarajan (partner)")
    expect(feed.locator(".cw-feed__item").first).to_contain_text("Added a Note")
    expect(page.locator("#case-tabs")).to_contain_text(body)
    assert page.evaluate("window.caseworksNotReloaded") is True


# Partner manager -------------------------------------------------------------------------


def test_the_partner_manager_reassigns_a_referral_to_another_agent(
    page, live_server, browser, demo
):
    member = new_referral("partner")
    case = member.case

    portal_sign_in(page, live_server.url, "partnermgr")
    expect(
        page.get_by_text("Every case assigned to an agent of your organization.")
    ).to_be_visible()
    row = my_cases_row(page, case)
    expect(row).to_contain_text("Priya Natarajan")
    row.get_by_role("link", name=case.name).click()

    assignments = page.get_by_role("region", name="Assigned in your organization")
    expect(assignments).to_contain_text("Priya Natarajan")
    assignments.get_by_label("Reassign to").select_option(label="Daniel Okafor")
    assignments.get_by_role("button", name="Reassign").click()
    expect(page.locator(".cw-messages")).to_contain_text(
        f"{case.number} is now assigned to Daniel Okafor."
    )
    expect(page.get_by_role("region", name="Assigned in your organization")).to_contain_text(
        "Daniel Okafor"
    )

    # Daniel finds it in his My Cases as new; Priya no longer sees it.
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        daniel = other.new_page()
        portal_sign_in(daniel, live_server.url, "partner2")
        expect(my_cases_row(daniel, case)).to_contain_text("New case")
    finally:
        other.close()
    gone = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        priya = gone.new_page()
        portal_sign_in(priya, live_server.url, "partner")
        expect(priya.get_by_role("heading", name="Cases List")).to_be_visible()
        expect(my_cases_row(priya, case)).to_have_count(0)
    finally:
        gone.close()


# Admin -----------------------------------------------------------------------------------


def test_the_admin_finds_a_case_and_approves_it_from_the_change_form(page, live_server, demo):
    case = Case.objects.filter(status=Case.Status.OPEN).order_by("number").first()

    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    page.locator("#cases-case").get_by_role("link", name="Cases", exact=True).click()
    page.locator("#searchbar").fill(case.number)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list").get_by_role("link", name=case.number).click()

    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".messagelist")).to_contain_text("Approve: done.")
    case.refresh_from_db()
    assert case.status == Case.Status.APPROVED
    assert case.events.filter(verb="transition", actor__username="admin").exists()
