"""The referral loop in Chromium, end to end: the agency manager refers an approved case and
routing picks a partner agent; she declines with a reason and the worker re-routes the case
to her colleague, who accepts it, records work and completes it with an outcome. The
manager watches it on the open case page, finds the outcome on the case and on the
Referrals board, and closes the case, which leaves the agent's My Cases."""

import re

import pytest
from playwright.sync_api import expect

from cases.models import Case, CaseTeamMember, Referral
from cases.routing import services as routing_services
from tests.browsing import sign_in
from tests.factories import PASSWORD, make_case, record_consent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

State = Referral.State
# The open case page polls for new events every few seconds; a loaded machine is slower.
LIVE = 20_000


@pytest.fixture
def northside_pool(northside, partner_agent, partner_colleague):
    """An Assignment Manager rule whose pool is Northside's two agents: PA, the older
    profile, wins the least-loaded tie, and PB is next."""
    northside.programs_served = ["SNAP"]
    northside.save(update_fields=["programs_served"])
    return routing_services.assignment_rule_create(
        actor=None, name="Northside takes SNAP", organizations=[northside]
    )


def accept_dialogs(page) -> None:
    """State-changing buttons ask for confirmation first: say yes."""
    page.on("dialog", lambda dialog: dialog.accept())


def open_tab(page, label: str) -> None:
    page.get_by_role("navigation", name=re.compile("Case views|View tabs")).get_by_role(
        "link", name=label, exact=True
    ).click()
    expect(page.get_by_role("link", name=label, exact=True)).to_have_attribute(
        "aria-current", "page"
    )


def portal_page(browser, base_url: str, username: str):
    """A partner agent's own browser, signed in to the portal, on My Cases."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    accept_dialogs(page)
    sign_in(page, base_url, "/portal/login/", username, PASSWORD)
    expect(page.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
    return context, page


def pick(page, label: str) -> None:
    """Choose a USWDS radio button by its label (the label covers the input)."""
    page.locator("label.usa-radio__label", has_text=re.compile(f"^{label}$")).click()


def team_row(page, name: str):
    return page.locator("#team-members").get_by_role("row", name=re.compile(f"^{name}"))


def test_a_declined_referral_is_rerouted_accepted_worked_completed_and_the_case_closed(
    page, browser, live_server, agency_manager, partner_agent, partner_colleague, northside_pool
):
    case = make_case(owner=agency_manager, status=Case.Status.APPROVED)
    record_consent(case, partner_agent.partner_agent.organization, actor=agency_manager)
    pa_name, pb_name = partner_agent.get_full_name(), partner_colleague.get_full_name()
    url = live_server.url
    contexts = []
    try:
        # The manager refers the case from its page; routing puts PA on the Case Team.
        accept_dialogs(page)
        sign_in(page, url, "/login/", agency_manager.username, PASSWORD)
        expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
        page.goto(f"{url}/cases/{case.pk}/")
        page.get_by_role("button", name="Refer to Third-Party").click()
        header = page.locator("#case-status")
        expect(header).to_contain_text("Third-Party")
        expect(header).to_contain_text(f"Pending {pa_name}")
        first = CaseTeamMember.objects.get(case=case, role=CaseTeamMember.Role.PARTNER_AGENT)
        assert first.user == partner_agent
        assert first.referral.state == State.PENDING

        # She keeps the case open on its Case Team tab from here on, never reloading it.
        open_tab(page, "Case Team")
        expect(team_row(page, pa_name)).to_contain_text("Pending")
        feed = page.locator("#live-feed")
        page.evaluate("window.caseworksNotReloaded = true")

        # PA declines in the portal, with a reason; the case leaves her My Cases.
        pa_context, pa = portal_page(browser, url, partner_agent.username)
        contexts.append(pa_context)
        pa.get_by_role("link", name=case.name, exact=True).click()
        box = pa.get_by_role("region", name=re.compile("^Your referral"))
        expect(box).to_contain_text("Your referral: Pending")
        expect(box.get_by_role("button", name="Start work")).to_have_count(0)
        box.get_by_text("Decline case…").click()
        pick(box, "No capacity")
        box.get_by_role("textbox", name="Explain").fill("Our SNAP desk is full this month.")
        box.get_by_role("button", name="Decline case", exact=True).click()
        expect(pa.locator(".cw-messages")).to_contain_text(f"You declined {case.number}.")
        expect(pa.get_by_role("link", name=case.name, exact=True)).to_have_count(0)

        # The decline's on-commit task (immediate in tests) re-routes the case to PB.
        expect(feed).to_contain_text("Declined the referral", timeout=LIVE)
        expect(team_row(page, pa_name)).to_contain_text("Declined", timeout=LIVE)
        expect(team_row(page, pa_name)).to_contain_text("No capacity")
        expect(team_row(page, pb_name)).to_contain_text("Pending", timeout=LIVE)
        first.referral.refresh_from_db()
        assert first.referral.state == State.DECLINED
        assert first.referral.reason == Referral.DeclineReason.NO_CAPACITY
        second = CaseTeamMember.objects.get(case=case, user=partner_colleague)
        assert second.referral.replaces == first.referral

        # PB accepts: the work actions replace Accept and Decline.
        pb_context, pb = portal_page(browser, url, partner_colleague.username)
        contexts.append(pb_context)
        pb.get_by_role("link", name=case.name, exact=True).click()
        box = pb.get_by_role("region", name=re.compile("^Your referral"))
        expect(box).to_contain_text("Your referral: Pending")
        box.get_by_role("button", name="Accept case").click()
        expect(box).to_contain_text("Your referral: Accepted")
        expect(box.get_by_role("button", name="Start work")).to_be_visible()
        for action in ("Put on waitlist…", "Complete…", "Could not help…"):
            expect(box.get_by_text(action, exact=True)).to_be_visible()
        expect(box.get_by_role("button", name="Accept case")).to_have_count(0)
        expect(box.get_by_text("Decline case…")).to_have_count(0)
        expect(feed).to_contain_text("Accepted the referral", timeout=LIVE)
        expect(team_row(page, pb_name)).to_contain_text("Accepted", timeout=LIVE)

        # Records work: the first note puts the referral in progress.
        open_tab(pb, "Notes")
        pb.get_by_text("Add note").click()
        pb.get_by_role("textbox", name="Note").fill("Met the applicant; benefits restored.")
        pb.get_by_role("button", name="Save note").click()
        expect(pb.locator("#case-tabs [role=status]")).to_contain_text("Note added.")
        expect(feed).to_contain_text("Added a Note: Met the applicant", timeout=LIVE)
        expect(feed).to_contain_text("Started work on the referral", timeout=LIVE)
        # (The Case Team row stays "Accepted" until a reload: STARTED is not among the
        # verbs that refresh it; see the report of this test.)
        pb.reload()
        expect(box).to_contain_text("Your referral: In progress")

        # Completes it with an outcome and a note.
        box.get_by_text("Complete…", exact=True).click()
        pick(box, "Client served")
        box.get_by_role("textbox", name="What was done for the client").fill(
            "SNAP benefits restored from the first of the month."
        )
        box.get_by_role("button", name="Complete", exact=True).click()
        expect(pb.locator(".cw-messages")).to_contain_text(
            f"You completed {case.number} (Client served)."
        )
        expect(box).to_contain_text("Your referral: Completed")
        expect(box.get_by_role("button")).to_have_count(0)

        # The manager's page, still not reloaded, shows the outcome on the Case Team.
        expect(feed).to_contain_text("Completed the referral", timeout=LIVE)
        completed_row = team_row(page, pb_name)
        expect(completed_row).to_contain_text("Completed", timeout=LIVE)
        expect(completed_row).to_contain_text("Client served: SNAP benefits restored")
        expect(page.locator("#team-summary")).to_contain_text("Client served")
        assert page.evaluate("window.caseworksNotReloaded") is True

        # On the case: the header's Referral fact and the Referrals section. A live update
        # of the header drops the Referral fact and the section is not refreshed live
        # (see the report of this test), so they are read after a reload.
        page.reload()
        expect(header).to_contain_text(f"Completed {pb_name}")
        expect(header).to_contain_text("Client served")
        history = page.get_by_role("region", name="Referrals", exact=True)
        completed = history.get_by_role("row", name=re.compile(f"^{pb_name}"))
        expect(completed).to_contain_text("Completed")
        expect(completed).to_contain_text("Client served: SNAP benefits restored")
        expect(completed).to_contain_text(f"Replaces the referral to {pa_name}")
        declined = history.get_by_role("row", name=re.compile(f"^{pa_name}"))
        expect(declined).to_contain_text("Declined")
        expect(declined).to_contain_text("No capacity: Our SNAP desk is full this month.")

        # The Referrals board, completed this week.
        page.get_by_role("link", name="Referrals", exact=True).click()
        page.get_by_label("Show").select_option(label="Completed this week")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"state=completed_week"))
        board_row = page.get_by_role("row").filter(
            has=page.get_by_role("link", name=case.name, exact=True)
        )
        expect(board_row).to_contain_text(pb_name)
        expect(board_row).to_contain_text("Completed")
        expect(board_row).to_contain_text("Client served")

        # The manager closes the case; after a reload, PB's My Cases no longer lists it.
        pb.get_by_role("link", name="My Cases", exact=False).first.click()
        expect(pb.get_by_role("link", name=case.name, exact=True)).to_be_visible()
        board_row.get_by_role("link", name=case.name, exact=True).click()
        page.get_by_role("button", name="Close Case").click()
        expect(header).to_contain_text("Closed")
        pb.reload()
        expect(pb.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
        expect(pb.get_by_role("link", name=case.name, exact=True)).to_have_count(0)
    finally:
        for context in contexts:
            context.close()
    second.referral.refresh_from_db()
    assert second.referral.state == State.COMPLETED
    assert not CaseTeamMember.objects.get(pk=second.pk).is_active
