"""axe-core (bundled by axe-playwright-python, offline) on every page the journeys reach: no
serious or critical violation anywhere. Plus what axe cannot judge: the New asterisk and the
status badges carry text, not only a symbol or a colour.

Every page's result is also written to test-results/axe/<page>.json for CI artifacts.
"""

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from cases import routing, services
from cases.models import AssignmentRule, Case, CaseTeamMember, Referral
from cases.records import Tab
from demo.data import DEMO_PASSWORD
from demo.management.commands.load_demo import load_demo_rules
from partners.models import PartnerOrganization
from tests.browsing import ARTIFACTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

State = Referral.State
BLOCKING = {"serious", "critical"}


@pytest.fixture
def demo(transactional_db):
    call_command("load_demo", stdout=io.StringIO())


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture
def audit(page, axe):
    """Run axe on the page as it is now; collect the serious and critical violations and
    fail once at the end, naming every page and element, so one run shows them all."""
    failures = []
    folder = ARTIFACTS / "axe"
    folder.mkdir(parents=True, exist_ok=True)

    def check(name: str) -> None:
        page.wait_for_load_state("networkidle")
        violations = axe.run(page).response["violations"]
        (folder / f"{name}.json").write_text(json.dumps(violations, indent=1))
        for violation in violations:
            if violation["impact"] in BLOCKING:
                targets = ", ".join(str(node["target"]) for node in violation["nodes"][:5])
                failures.append(
                    f"{name} ({page.url}): {violation['impact']} {violation['id']}: "
                    f"{violation['help']} [{targets}]"
                )
        checked.append(name)

    checked: list[str] = []
    check.checked = checked
    yield check
    assert not failures, "axe found serious or critical violations:\n" + "\n".join(failures)


def visit(page, base_url: str, path: str, ready) -> None:
    page.goto(base_url + path)
    expect(ready(page)).to_be_visible()


def heading(name: str):
    return lambda page: page.get_by_role("heading", name=name, exact=True).first


def routed_case() -> Case:
    """A case the Assignment Manager routed on its referral ("Why this agent" filled in)."""
    load_demo_rules()
    northside = PartnerOrganization.objects.get(name="Northside Legal Aid")
    case = Case.objects.filter(
        status=Case.Status.OPEN,
        program__code__in=northside.programs_served,
        language__in=northside.languages,
    ).order_by("number")[0]
    manager = get_user_model().objects.get(username="manager")
    for name in ("approve", "refer"):
        case = services.case_transition(actor=manager, case=case, name=name)
    assert routing.latest_routing_decision(case=case) is not None
    return case


def partner_case(username: str, state: str, *, unseen: bool = False) -> Case:
    members = CaseTeamMember.objects.filter(
        user__username=username, is_active=True, referral_state=state
    )
    if unseen:
        members = members.filter(seen_at=None)
    members = list(members.select_related("case").order_by("case__number"))
    return next(m.case for m in members if Tab.ATTACHMENTS in m.tabs)


def test_sign_in_pages_have_no_serious_accessibility_violations(page, live_server, audit, demo):
    for name, path, title in (
        ("agency-sign-in", "/login/", "Sign in"),
        ("portal-sign-in", "/portal/login/", "Partner Portal sign-in"),
        ("portal-password-reset", "/portal/password/reset/", None),
    ):
        page.goto(live_server.url + path)
        if title:
            expect(page.get_by_role("heading", level=1)).to_contain_text(title)
        audit(name)
    # A failed sign-in shows its error in the form.
    sign_in(page, live_server.url, "/login/", "manager", "not-the-password")
    expect(page.get_by_role("alert")).to_be_visible()
    audit("agency-sign-in-error")
    page.goto(live_server.url + "/admin/login/")
    audit("admin-sign-in")


def test_agency_pages_have_no_serious_accessibility_violations(page, live_server, audit, demo):
    routed = routed_case()
    accepted = partner_case("partner", State.ACCEPTED)
    approved = Case.objects.filter(status=Case.Status.APPROVED).order_by("number").first()
    rule = AssignmentRule.objects.order_by("order").first()
    url = live_server.url

    sign_in(page, url, "/login/", "manager", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
    audit("cases-list")
    # A query narrows the results in place (htmx), and an empty result explains itself.
    page.get_by_label("Search cases").fill(accepted.name.split(":")[0])
    expect(page.locator("#case-results")).to_contain_text(accepted.name)
    audit("cases-list-query")
    visit(page, url, "/cases/?q=no-such-case-anywhere", lambda p: p.get_by_text("0 cases."))
    audit("cases-list-empty")

    tabs = ("", "partners", "team", "activities", "attachments", "servicerequests", "notes")
    for case, slug in [(approved, ""), *((accepted, tab) for tab in (*tabs, "history"))]:
        path = f"/cases/{case.pk}/{slug + '/' if slug else ''}"
        visit(page, url, path, lambda p: p.get_by_role("heading", name="Oversight"))
        audit(f"case-{case.status}-{slug or 'details'}")
    # Partners > New: the selector's fieldset.
    visit(
        page,
        url,
        f"/cases/{approved.pk}/partners/?add=1",
        lambda p: p.get_by_role("group", name="New partner"),
    )
    audit("case-partners-new")

    visit(page, url, f"/cases/{routed.pk}/team/", heading("Why this agent"))
    page.get_by_role("button", name=re.compile("Candidates considered")).click()
    audit("case-team-routed")

    visit(page, url, "/cases/new/", heading("New Case"))
    audit("case-new")
    visit(page, url, f"/cases/{approved.pk}/edit/", lambda p: p.get_by_role("heading").first)
    audit("case-edit")
    visit(page, url, "/cases/referrals/", heading("Referrals"))
    audit("referrals-board")
    visit(page, url, "/cases/referrals/?state=pending", heading("Referrals"))
    audit("referrals-board-pending")
    visit(page, url, "/cases/routing/", lambda p: p.get_by_role("heading", level=1))
    audit("routing-rules")
    visit(page, url, "/cases/routing/new/", lambda p: p.get_by_role("heading", level=1))
    audit("routing-rule-new")
    visit(page, url, f"/cases/routing/{rule.pk}/dry-run/", lambda p: p.get_by_role("heading").first)
    audit("routing-dry-run")
    visit(page, url, "/password/", lambda p: p.get_by_role("heading", level=1))
    audit("agency-password-change")


def test_portal_pages_have_no_serious_accessibility_violations(page, live_server, audit, demo):
    new = partner_case("partner", State.PENDING, unseen=True)
    accepted = partner_case("partner", State.ACCEPTED)
    url = live_server.url

    sign_in(page, url, "/portal/login/", "partner", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
    audit("my-cases")
    visit(page, url, "/portal/?new=on", heading("My Cases"))
    audit("my-cases-new-only")

    # A new case: the referral with Accept and Decline (opened), the first tab loaded.
    visit(page, url, f"/portal/cases/{new.pk}/", heading(re.compile(r"^Your referral: Pending")))
    expect(page.locator(".cwp-tabs__link.is-active")).to_be_visible()
    audit("portal-case-pending")
    page.get_by_text("Decline case…").click()
    expect(page.get_by_role("group", name=re.compile("Reason for declining"))).to_be_visible()
    audit("portal-case-decline-form")

    for tab, add in (
        ("activities", "Add activity"),
        ("attachments", "Add attachment"),
        ("servicerequests", None),
        ("notes", "Add note"),
    ):
        visit(page, url, f"/portal/cases/{accepted.pk}/{tab}/", heading("Case details"))
        audit(f"portal-case-{tab}")
        if add:
            page.get_by_text(add).click()
            expect(page.get_by_role("button", name=re.compile("^Save"))).to_be_visible()
            audit(f"portal-case-{tab}-add")
    visit(page, url, "/portal/password/", lambda p: p.get_by_role("heading", level=1))
    audit("portal-password-change")

    # The partner manager: the Agent column and the Reassign form.
    page.context.clear_cookies()
    sign_in(page, url, "/portal/login/", "partnermgr", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="My Cases", exact=True)).to_be_visible()
    audit("my-cases-partner-manager")
    visit(page, url, f"/portal/cases/{new.pk}/", heading("Assigned in your organization"))
    audit("portal-case-partner-manager")


def test_admin_pages_reached_by_the_admin_journey_have_no_serious_violations(
    page, live_server, audit, demo
):
    case = Case.objects.order_by("number").first()
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    audit("admin-index")
    page.goto(f"{live_server.url}/admin/cases/case/?q={case.number}")
    audit("admin-case-search")
    page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    expect(page.get_by_role("heading", level=2, name=re.compile(case.number))).to_be_visible()
    audit("admin-case-change")


# Text alternatives -----------------------------------------------------------------------


def test_the_new_asterisk_is_announced_as_new_case_and_counted_in_the_navigation(
    page, live_server, demo
):
    new_count = CaseTeamMember.objects.filter(
        user__username="partner", is_active=True, seen_at=None
    ).count()
    assert new_count > 1
    sign_in(page, live_server.url, "/portal/login/", "partner", DEMO_PASSWORD)

    markers = page.locator("tbody .cwp-new-marker")
    expect(markers).to_have_count(new_count)
    for marker in markers.all():
        # The symbol is hidden from assistive technology; its cell says it in words.
        expect(marker).to_have_attribute("aria-hidden", "true")
        cell = marker.locator("xpath=ancestor::td[1]")
        expect(cell).to_have_accessible_name("New case")
    rows = page.locator("tbody tr").filter(has_text="New case")
    expect(rows).to_have_count(new_count)
    # The legend explains the symbol to sighted users.
    expect(page.get_by_text("new case you have not opened yet")).to_be_visible()
    # The navigation badge reads as a number of new cases, not as a bare digit.
    expect(
        page.get_by_role("link", name=re.compile(rf"^My Cases {new_count} new cases$"))
    ).to_be_visible()


STATUS_LABELS = {label for _, label in Case.Status.choices}
REFERRAL_LABELS = {label for _, label in State.choices}


def test_status_and_referral_badges_say_their_state_in_text(page, live_server, browser, demo):
    sign_in(page, live_server.url, "/login/", "manager", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Cases List")).to_be_visible()
    statuses = page.locator("#case-results .cw-status")
    expect(statuses.first).to_be_visible()
    assert {tag.inner_text() for tag in statuses.all()} <= {s.upper() for s in STATUS_LABELS}
    for tag in statuses.all() + page.locator("#case-results .cw-referral").all():
        # Colour is never the only cue: the accessible text names the state.
        text = tag.evaluate("el => el.textContent.trim()")
        assert text in STATUS_LABELS | REFERRAL_LABELS, text
        expect(tag).not_to_have_attribute("aria-hidden", "true")
    # The "Live" tag of the oversight panel: a word, the pulsing dot hidden.
    page.locator("#case-results .cw-case-link").first.click()
    live = page.locator(".cw-live__tag")
    expect(live).to_have_text("Live")
    expect(live.locator(".cw-live__dot")).to_have_attribute("aria-hidden", "true")

    partner = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        portal = partner.new_page()
        sign_in(portal, live_server.url, "/portal/login/", "partner", DEMO_PASSWORD)
        tags = portal.locator("tbody .cwp-referral")
        expect(tags.first).to_be_visible()
        for tag in tags.all():
            assert tag.evaluate("el => el.textContent.trim()") in REFERRAL_LABELS
        portal.locator("tbody th a").first.click()
        status = portal.locator(".cwp-case-head .cwp-status")
        assert status.evaluate("el => el.textContent.trim()") in STATUS_LABELS
    finally:
        partner.close()
