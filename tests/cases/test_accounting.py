"""The accounting of disclosures of a case: each organization's bases (consents, program
consents, emergency access) with the dates they held, what its agents opened or downloaded
in the portal, the same rows in the CSV, who may read it, and a fixed number of queries."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import SecurityEvent
from accounts.people import display_name
from cases import access, accounting, services
from cases.models import Case, CaseEvent, Consent
from casesite import clock
from tests.factories import make_case, make_referral, record_consent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "private_storage", "services_without_routing"),
]

ALL_TABS = ["activities", "attachments", "servicerequests", "notes"]


def page_url(case) -> str:
    return reverse("cases:disclosures", args=[case.pk])


def csv_url(case) -> str:
    return reverse("cases:disclosures_csv", args=[case.pk])


def portal_tab(case, tab) -> str:
    return reverse("portal:case_tab", args=[case.pk, tab])


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def local(value) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds")


@pytest.fixture
def story(client, agency_manager, caseworker, northside, harbor, partner_agent, outsider):
    """Northside: referred with a consent, opens the case, two tabs and a file; that
    consent is superseded by a narrower one; opens Notes again. Harbor (serves SNAP): a
    consent for every SNAP partner, a consent of its own revoked, emergency access; its
    agent opens the case and the Activities tab. An agency download is no disclosure."""
    harbor.programs_served = ["SNAP"]
    harbor.save(update_fields=["programs_served"])
    case = make_case(status=Case.Status.THIRD_PARTY, actor=agency_manager)
    case, _ = make_referral(
        agent_user=partner_agent, case=case, actor=agency_manager, tabs=ALL_TABS
    )
    first = case.consents.get(organization=northside)
    upload = SimpleUploadedFile("lease-ledger.txt", b"Rent ledger", content_type="text/plain")
    ledger = services.attachment_add(
        actor=caseworker, case=case, upload=upload, shared_with_partners=True
    )
    client.force_login(partner_agent)
    client.get(reverse("portal:case", args=[case.pk]))
    client.get(portal_tab(case, "notes"))
    client.get(portal_tab(case, "attachments"))
    download = reverse("portal:attachment_download", args=[case.pk, ledger.pk])
    assert client.get(download).status_code == 200
    today = timezone.localdate(clock.now())
    narrower = record_consent(
        case, northside, actor=agency_manager, data=["details", "notes"], supersedes=first
    )
    client.get(portal_tab(case, "notes"))
    program = record_consent(
        case, program=case.program, actor=agency_manager, data=["details", "activities"]
    )
    revoked = record_consent(case, harbor, actor=agency_manager, data=["details", "notes"])
    revoked = services.consent_revoke(actor=agency_manager, consent=revoked, reason="Asked to")
    emergency = services.emergency_access_grant(
        actor=agency_manager, case=case, organization=harbor, reason="Eviction tomorrow", hours=4
    )
    make_referral(agent_user=outsider, case=case, actor=agency_manager, tabs=ALL_TABS)
    client.force_login(outsider)
    client.get(reverse("portal:case", args=[case.pk]))
    client.get(portal_tab(case, "activities"))
    client.force_login(caseworker)
    client.get(reverse("cases:attachment_download", args=[case.pk, ledger.pk]))
    client.logout()
    first.refresh_from_db()
    return {
        "case": case,
        "today": today,
        "first": first,
        "narrower": narrower,
        "program": program,
        "revoked": revoked,
        "emergency": emergency,
    }


def test_each_organization_lists_its_bases_with_what_they_covered_and_when_they_held(
    story, northside, harbor
):
    case = story["case"]
    first, narrower, program = story["first"], story["narrower"], story["program"]
    revoked, emergency = story["revoked"], story["emergency"]
    accounts = accounting.case_accounting(case=case)
    assert [a.name for a in accounts] == [harbor.name, northside.name]
    harbor_account, northside_account = accounts

    superseded, current = northside_account.bases
    assert (superseded.label, superseded.starts) == (f"Consent #{first.pk}", story["today"])
    assert superseded.ended_by == accounting.Basis.SUPERSEDED
    assert superseded.ends == narrower.recorded_at
    assert superseded.end_text == f"Superseded by consent #{narrower.pk}"
    assert superseded.covers == (
        "Case details",
        "Activities",
        "Attachments",
        "Service Requests",
        "Notes",
    )
    assert superseded.state == accounting.Basis.ENDED
    assert current.label == f"Consent #{narrower.pk}"
    assert (current.starts, current.ends) == (narrower.starts_on, narrower.ends_on)
    assert current.covers == ("Case details", "Notes")
    assert current.state == accounting.Basis.IN_FORCE

    by_program, own, break_glass = harbor_account.bases
    assert by_program.label == f"Consent #{program.pk}"
    assert by_program.recipient == f"Every partner of {case.program.name}"
    assert by_program.covers == ("Case details", "Activities")
    assert by_program.ends == program.ends_on
    assert own.label == f"Consent #{revoked.pk}"
    assert (own.ended_by, own.ends, own.state) == ("revoked", revoked.revoked_at, "ended")
    assert break_glass.label == "Emergency access"
    assert break_glass.purpose == "Eviction tomorrow"
    assert (break_glass.starts, break_glass.ends) == (emergency.granted_at, emergency.expires_at)
    assert "Substance use (42 CFR Part 2)" not in break_glass.covers
    assert harbor_account.in_force == [by_program, break_glass]


def test_each_organization_lists_what_its_own_agents_opened_and_downloaded_newest_first(
    story, northside, harbor, partner_agent, outsider
):
    harbor_account, northside_account = accounting.case_accounting(case=story["case"])
    pa, pc = display_name(partner_agent), display_name(outsider)
    assert [(d.agent, d.action, d.what) for d in northside_account.disclosures] == [
        (pa, "Opened", "Notes tab"),
        (pa, "Downloaded", "lease-ledger.txt"),
        (pa, "Opened", "Attachments tab"),
        (pa, "Opened", "Notes tab"),
        (pa, "Opened", "Case page"),
    ]
    assert [(d.agent, d.what) for d in harbor_account.disclosures] == [
        (pc, "Activities tab"),
        (pc, "Case page"),
    ]
    times = [d.at for d in northside_account.disclosures]
    assert times == sorted(times, reverse=True)
    assert (northside_account.disclosure_count, northside_account.capped) == (5, False)


def test_the_page_shows_the_bases_and_the_accesses_in_tables(client, story, caseworker):
    case, first, narrower = story["case"], story["first"], story["narrower"]
    client.force_login(caseworker)
    response = client.get(page_url(case))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<h1 class="cw-page-head__title">Accounting of disclosures</h1>' in html
    for text in (
        f"Consent #{first.pk}",
        f"Superseded by consent #{narrower.pk}",
        "Revoked",
        "Emergency access",
        "Reason: Eviction tomorrow",
        "Every partner of",
        "Attachments tab",
        "lease-ledger.txt",
        "In force",
        "Ended",
        narrower.ends_on.strftime("%b %-d, %Y"),
    ):
        assert text in html, text
    assert f'href="{csv_url(case)}"' in html
    assert "No partner organization has had access" not in html


def test_the_csv_has_one_row_per_basis_and_per_access(client, story, caseworker, harbor, northside):
    case = story["case"]
    client.force_login(caseworker)
    response = client.get(csv_url(case))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    header, *rows = csv_of(response)
    assert header == ["Organization", "Kind", "Detail", "From", "To / at", "Agent"]
    first, narrower, revoked = story["first"], story["narrower"], story["revoked"]
    emergency = story["emergency"]
    assert [row[:2] for row in rows] == [
        [harbor.name, "Consent"],
        [harbor.name, "Consent"],
        [harbor.name, "Emergency access"],
        [harbor.name, "Viewed"],
        [harbor.name, "Viewed"],
        [northside.name, "Consent"],
        [northside.name, "Consent"],
        [northside.name, "Viewed"],
        [northside.name, "Downloaded"],
        [northside.name, "Viewed"],
        [northside.name, "Viewed"],
        [northside.name, "Viewed"],
    ]
    assert rows[1][2].startswith(f"Consent #{revoked.pk};")
    assert rows[1][3:5] == [revoked.starts_on.isoformat(), local(revoked.revoked_at)]
    assert rows[2][3:5] == [local(emergency.granted_at), local(emergency.expires_at)]
    assert rows[5][2].startswith(f"Consent #{first.pk};")
    assert rows[5][4] == local(narrower.recorded_at)
    assert rows[6][3:5] == [narrower.starts_on.isoformat(), narrower.ends_on.isoformat()]
    # The same accesses as the page, in the same order.
    kinds = {CaseEvent.Verb.VIEWED: "Viewed", CaseEvent.Verb.DOWNLOADED: "Downloaded"}
    on_the_page = [
        [account.name, kinds[d.verb], d.what, "", local(d.at), d.agent]
        for account in accounting.case_accounting(case=case)
        for d in account.disclosures
    ]
    assert [row for row in rows if row[1] in kinds.values()] == on_the_page


def test_a_cell_that_a_spreadsheet_would_run_as_a_formula_is_quoted(
    client, caseworker, agency_manager, northside
):
    case = make_case(actor=agency_manager)
    record_consent(case, northside, actor=agency_manager, purpose="=HYPERLINK(1)")
    client.force_login(caseworker)
    _, row = csv_of(client.get(csv_url(case)))
    assert row[2].startswith("Consent #")
    assert "=HYPERLINK" in row[2]
    assert all(not cell.startswith("=") for cell in row)


def test_a_case_no_partner_saw_says_so(client, caseworker):
    case = make_case()
    client.force_login(caseworker)
    html = client.get(page_url(case)).content.decode()
    assert "No partner organization has had access to this case." in html
    assert csv_of(client.get(csv_url(case))) == [accounting.CSV_HEADER]


def test_a_partner_tab_view_is_recorded_with_the_tab_and_leaves_the_new_asterisk(
    client, partner_agent
):
    case, member = make_referral(agent_user=partner_agent, tabs=ALL_TABS)
    client.force_login(partner_agent)
    assert client.get(portal_tab(case, "notes")).status_code == 200
    event = case.events.get(verb=CaseEvent.Verb.VIEWED)
    assert (event.actor, event.by_partner, event.data) == (partner_agent, True, {"tab": "notes"})
    member.refresh_from_db()
    assert member.seen_at is None  # still New: only the case page clears it
    client.get(reverse("portal:case", args=[case.pk]))
    assert case.events.filter(verb=CaseEvent.Verb.VIEWED).latest("pk").data == {}


# Who may read it ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [page_url, csv_url])
@pytest.mark.parametrize("who", ["caseworker", "agency_manager", "admin_user"])
def test_agency_staff_and_superusers_read_it_and_the_security_log_says_so(
    request, client, story, url, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = client.get(url(story["case"]))
    assert response.status_code == 200
    if response.streaming:
        b"".join(response.streaming_content)
    logged = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.ACCOUNTING).get()
    assert logged.user == user
    assert logged.data == {
        "case_id": story["case"].pk,
        "format": "csv" if url is csv_url else "page",
    }
    assert logged.path == url(story["case"])


@pytest.mark.parametrize("url", [page_url, csv_url])
@pytest.mark.parametrize("who", ["partner_agent", "partner_manager"])
def test_partner_users_never_get_it(request, client, url, who, partner_agent):
    case, _ = make_referral(agent_user=partner_agent, tabs=ALL_TABS)
    client.force_login(request.getfixturevalue(who))
    assert client.get(url(case)).status_code in (403, 404)
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.ACCOUNTING).exists()


@pytest.mark.parametrize("url", [page_url, csv_url])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    case = make_case()
    response = client.get(url(case))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("name", ["cases:disclosures", "cases:disclosures_csv"])
def test_a_case_that_does_not_exist_is_404(client, caseworker, name):
    client.force_login(caseworker)
    assert client.get(reverse(name, args=[987654])).status_code == 404


def test_the_admin_case_page_links_to_it(client, admin_user):
    case = make_case()
    client.force_login(admin_user)
    html = client.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
    assert f'href="{page_url(case)}"' in html


def test_the_agency_case_page_links_to_it(client, caseworker):
    case = make_case()
    client.force_login(caseworker)
    assert f'href="{page_url(case)}"' in client.get(f"/cases/{case.pk}/").content.decode()


# Queries -----------------------------------------------------------------------------------


def views(case, user, count: int, tab: str = "") -> None:
    for _ in range(count):
        services.case_mark_seen(user=user, case=case, clear_new=False, tab=tab)


def test_the_page_keeps_the_newest_200_per_organization_and_says_so(
    client, caseworker, partner_agent, outsider, agency_manager
):
    case, _ = make_referral(agent_user=partner_agent, actor=agency_manager, tabs=ALL_TABS)
    make_referral(agent_user=outsider, case=case, actor=agency_manager, tabs=ALL_TABS)
    views(case, partner_agent, 230, tab="notes")
    views(case, outsider, 3)
    client.force_login(caseworker)
    response = client.get(page_url(case))
    harbor_account, northside_account = response.context["accounts"]
    assert (len(northside_account.disclosures), northside_account.disclosure_count) == (200, 230)
    assert (len(harbor_account.disclosures), harbor_account.capped) == (3, False)
    assert "The 200 most recent of 230. The CSV has all of them." in response.content.decode()
    rows = csv_of(client.get(csv_url(case)))
    assert sum(1 for row in rows if row[1] == "Viewed") == 233


def test_the_page_and_the_csv_take_the_same_queries_for_few_or_many_events(
    client,
    caseworker,
    partner_agent,
    outsider,
    agency_manager,
    harbor,
    django_assert_max_num_queries,
):
    harbor.programs_served = ["SNAP"]
    harbor.save(update_fields=["programs_served"])
    few, _ = make_referral(agent_user=partner_agent, actor=agency_manager, tabs=ALL_TABS)
    many, _ = make_referral(agent_user=partner_agent, actor=agency_manager, tabs=ALL_TABS)
    for case in (few, many):
        record_consent(case, program=case.program, actor=agency_manager)
        services.emergency_access_grant(
            actor=agency_manager, case=case, organization=harbor, reason="Urgent"
        )
        make_referral(agent_user=outsider, case=case, actor=agency_manager, tabs=ALL_TABS)
    views(few, partner_agent, 1)
    views(many, partner_agent, 250, tab="notes")
    views(many, outsider, 250)
    client.force_login(caseworker)
    client.get("/cases/")  # the first request after sign-in stamps the session

    def measured(url):
        """Session, user, partner profile, groups, the case, the security log; the page's
        six reads (consents, program partners, emergency access, counts, file names, the
        ranked events) and the layout's three (Inbox count, permissions); the CSV's five
        and the stream."""
        with django_assert_max_num_queries(15) as captured:
            response = client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code == 200
        return len(captured)

    assert measured(page_url(few)) == measured(page_url(many))
    assert measured(csv_url(few)) == measured(csv_url(many))


def test_a_basis_that_ended_by_its_date_shows_its_end_date(agency_manager, northside):
    case = make_case(actor=agency_manager)
    consent = record_consent(case, northside, actor=agency_manager, days=30)
    later = timezone.now() + timedelta(days=40)
    with clock.on(lambda: later):
        (account,) = accounting.case_accounting(case=case)
    (basis,) = account.bases
    assert (basis.ends, basis.ended_by, basis.state) == (consent.ends_on, "end_date", "ended")
    assert basis.ends_at == access.end_of(consent.ends_on)
    assert account.in_force == []
    assert Consent.objects.get(pk=consent.pk).state_on(later.date()) == "expired"
