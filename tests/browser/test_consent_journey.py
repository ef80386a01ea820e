"""Consent in Chromium, end to end: the agency manager records the client's consent on the
Consent tab and adds the partner agent to the Case Team; the agent opens the case, accepts
it and reads its Notes; the manager revokes the consent; the agent's next click lands on
My Cases with the notice and without the case; the accounting of disclosures lists what
the agent opened before the revocation and nothing after."""

import re

import pytest
from playwright.sync_api import expect

from cases.models import Case, CaseEvent, Consent
from tests.browsing import sign_in
from tests.factories import PASSWORD, make_case

from .test_referral_loop import accept_dialogs, open_tab, pick, portal_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def manual_routing_only(monkeypatch):
    monkeypatch.setattr("cases.routing.hooks.route_after_refer", lambda **kwargs: None)


def test_consent_opens_the_case_and_its_revocation_closes_it_on_the_next_click(
    page, browser, live_server, agency_manager, partner_agent, northside
):
    case = make_case(owner=agency_manager, status=Case.Status.THIRD_PARTY, name="Okafor Household")
    url = live_server.url
    case_url = f"{url}/cases/{case.pk}/"
    accept_dialogs(page)
    page.set_default_timeout(15_000)
    sign_in(page, url, "/login/", agency_manager.username, PASSWORD)
    page.goto(case_url)

    # Consent tab > Record a consent: Northside Legal Aid, the details and the Notes.
    open_tab(page, "Consent")
    page.get_by_role("link", name="Record a consent").first.click()
    page.get_by_label("Recipient").select_option(label="Northside Legal Aid")
    page.get_by_label("Purpose").fill("Legal help with the eviction case")
    page.locator("label.usa-checkbox__label", has_text=re.compile("^Notes$")).click()
    pick(page, "Electronic signature")
    page.get_by_role("button", name="Record consent").click()
    card = page.locator(".cw-consent", has_text="Northside Legal Aid")
    expect(card).to_contain_text("Active")
    consent = Consent.objects.get(case=case)
    assert consent.data == ["details", "notes"]

    # Case Team: the agent of Northside, saved: a pending referral.
    open_tab(page, "Case Team")
    page.get_by_label("Person").select_option(value=str(partner_agent.pk))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#team-members")).to_contain_text("Pending")

    # The agent opens the case, accepts it, reads its Notes (Activities are not covered).
    context, portal = portal_page(browser, url, partner_agent.username)
    try:
        portal.get_by_role("link", name="Okafor Household").click()
        expect(portal.get_by_role("heading", name="Okafor Household")).to_be_visible()
        tabs = portal.get_by_role("navigation", name="View tabs")
        expect(tabs.get_by_role("link")).to_have_text(["Notes"])
        portal.get_by_role("button", name="Accept case").click()
        expect(portal.get_by_text("Your referral: Accepted")).to_be_visible()
        tabs.get_by_role("link", name="Notes").click()
        expect(tabs.get_by_role("link", name="Notes")).to_have_attribute("aria-current", "page")
        assert (
            CaseEvent.objects.filter(
                case=case, verb=CaseEvent.Verb.VIEWED, actor=partner_agent
            ).count()
            >= 2
        )  # the case page and the Notes tab

        # The manager revokes the consent, with a reason, on the Consent tab.
        open_tab(page, "Consent")
        card.get_by_role("link", name=re.compile("^Revoke")).click()
        page.get_by_label("Reason").fill("The client called to withdraw it")
        page.get_by_role("button", name="Revoke consent").click()
        expect(card).to_contain_text("Revoked")

        # The agent's next click: the tab answers 404 like any hidden case, and the portal
        # goes to My Cases, which says why, without the case.
        tabs.get_by_role("link", name="Notes").click()
        expect(portal).to_have_url(f"{url}/portal/")
        assert portal.request.get(f"{url}/portal/cases/{case.pk}/").status == 404
        notice = portal.get_by_text(re.compile(f"Access to {case.number} ended on .*"))
        expect(notice).to_contain_text("consent withdrawn")
        expect(portal.get_by_role("link", name="Okafor Household")).to_have_count(0)
        # Nothing was opened after the revocation (earlier page loads may still have been
        # landing while the manager revoked: they count before it).
        revoked_at = Consent.objects.get(case=case).revoked_at
        views = CaseEvent.objects.filter(case=case, verb=CaseEvent.Verb.VIEWED, actor=partner_agent)
        assert not views.filter(created_at__gt=revoked_at).exists()
        views_before = views.count()
    finally:
        context.close()

    # The accounting of disclosures: the consent (ended at the revocation) and the agent's
    # views, each of them before the revocation.
    page.get_by_role("link", name="Accounting of disclosures").click()
    section = page.locator("section", has_text="Northside Legal Aid").first
    expect(section).to_contain_text("Revoked")
    expect(section).to_contain_text("Notes tab")
    expect(section).to_contain_text("Case page")
    rows = section.locator("table").nth(1).locator("tbody tr")
    expect(rows).to_have_count(views_before)
