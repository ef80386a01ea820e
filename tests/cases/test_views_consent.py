"""Agency workspace: the Consent tab (consents and their states, recording, revoking),
emergency access, and the consent state where partners are chosen, as agency staff use
them; and the Part 2 flag of the agency's record forms."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import services
from cases.models import Attachment, Case, CaseEvent, Consent, EmergencyAccess, Note, Referral
from cases.records import KINDS
from casesite import clock
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    ProgramFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

Status = Case.Status
Method = Consent.Method
HTMX_TAB = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-tabs"}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# The Consent tab with the record form open, for an agency manager: session, user, partner
# profile, roles, case, model permissions (user, groups), the consents, the record form's
# organizations and programs, emergency access, the grant form's organizations with their
# consents and emergency access, and the consents the new one may replace.
TAB_QUERIES = 15


def consent_url(case, rest=""):
    return f"/cases/{case.pk}/consent/{rest}"


def today():
    return timezone.localdate()


def day(value) -> str:
    return f"{value:%b %-d, %Y}"


def consent_form(organization, **fields) -> dict:
    """What the Record a consent form posts: an electronic consent for `organization`
    covering the case details, for a year from today."""
    data = {
        "recipient": f"organization:{organization.pk}",
        "purpose": "Legal help with the benefits appeal",
        "covers": ["details"],
        "starts_on": today().isoformat(),
        "ends_on": (today() + timedelta(days=365)).isoformat(),
        "method": Method.ELECTRONIC,
    }
    data.update(fields)
    return data


def counts() -> tuple[int, int, int]:
    return Consent.objects.count(), Attachment.objects.count(), CaseEvent.objects.count()


def tag_of(html: str, consent: Consent) -> str:
    """The state tag of one consent card of the Consent tab."""
    card = html[html.index(f'id="consent-{consent.pk}"') :]
    return re.search(r'cw-consent-tag--\w+">([^<]+)<', card).group(1)


# The tab -------------------------------------------------------------------------------------


def test_the_consent_tab_comes_after_the_case_team_and_loads_into_the_panel(caseworker_client):
    case = make_case()
    html = caseworker_client.get(f"/cases/{case.pk}/").content.decode()
    labels = re.findall(r'class="cw-tabs__link[^"]*"[^>]*>([^<]+)</a>', html)
    assert labels[labels.index("Case Team") + 1] == "Consent"
    panel = caseworker_client.get(consent_url(case), **HTMX_TAB)
    assert panel.status_code == 200
    assert b'<h2 id="tab-heading" class="cw-tab-heading">Consent</h2>' in panel.content
    assert b"<html" not in panel.content


def test_without_a_consent_the_tab_says_what_one_does_and_offers_to_record_one(
    caseworker_client,
):
    case = make_case()
    html = caseworker_client.get(consent_url(case)).content.decode()
    assert "No consent is recorded for this case" in html
    assert "no partner agent can be added to the Case Team" in html
    assert f'href="{consent_url(case)}?add=1"' in html
    form = caseworker_client.get(consent_url(case) + "?add=1").content.decode()
    assert "Record a consent</legend>" in form
    assert 'value="details" checked' in form
    assert f'value="{today().isoformat()}"' in form


def test_the_tab_lists_consents_newest_first_with_their_states(
    caseworker_client, agency_manager, northside, harbor
):
    case = make_case()
    other = PartnerOrganizationFactory(name="Eastside Food Bank")
    now = timezone.now()
    with clock.on(lambda: now - timedelta(days=400)):
        expired = record_consent(case, other, days=30)
    revoked = record_consent(case, harbor, purpose="Housing search")
    services.consent_revoke(actor=agency_manager, consent=revoked, reason="Client withdrew it")
    old = record_consent(case, northside)
    new = record_consent(case, northside, supersedes=old, days=3)
    with clock.on(lambda: now + timedelta(days=10)):
        future = record_consent(case, other, purpose="Food delivery")
    program = record_consent(case, program=ProgramFactory(code="SNAP"), days=200)

    html = caseworker_client.get(consent_url(case)).content.decode()
    assert tag_of(html, expired) == "Expired"
    assert tag_of(html, revoked) == "Revoked"
    assert tag_of(html, old) == "Superseded"
    assert tag_of(html, new) == "Expires within 7 days"
    assert tag_of(html, future) == "Not started"
    assert tag_of(html, program) == "Active"
    # Newest recorded first.
    order = [
        html.index(f'id="consent-{c.pk}"') for c in (future, program, new, old, revoked, expired)
    ]
    assert order == sorted(order)
    assert f"by {agency_manager.get_full_name()}: Client withdrew it" in html
    assert f'Replaced by <a class="usa-link" href="#consent-{new.pk}">' in html
    assert "Every partner of Program SNAP" in html
    assert "Case details, Activities, Attachments, Service Requests, Notes" in html
    assert f"{day(new.starts_on)} \N{EN DASH} {day(new.ends_on)}" in html
    assert "Electronic signature" in html
    # Revoke is offered for the consents still to come or in force, not for the others.
    for consent in (new, future, program):
        assert f"?revoke={consent.pk}" in html
    for consent in (expired, revoked, old):
        assert f"?revoke={consent.pk}" not in html


def test_the_consent_tab_makes_as_many_queries_for_3_consents_as_for_15(
    manager_client, agency_manager, django_assert_max_num_queries, northside, harbor
):
    def tab_queries(case, query="") -> int:
        with CaptureQueriesContext(connection) as queries:
            response = manager_client.get(consent_url(case) + query, **HTMX_TAB)
            assert response.status_code == 200
        return len(queries)

    few, many = make_case(), make_case()
    for case, n in ((few, 1), (many, 5)):
        for _ in range(n):
            old = record_consent(case, northside, method=Method.VERBAL, witness="A. Witness")
            record_consent(case, northside, supersedes=old)
            revoked = record_consent(case, harbor)
            services.consent_revoke(actor=agency_manager, consent=revoked, reason="Withdrawn")
            services.emergency_access_grant(
                actor=agency_manager, case=case, organization=harbor, reason="Hearing"
            )
    assert tab_queries(few) == tab_queries(many)
    assert tab_queries(few, "?add=1") == tab_queries(many, "?add=1")
    with django_assert_max_num_queries(TAB_QUERIES):
        manager_client.get(consent_url(many) + "?add=1", **HTMX_TAB)


# Recording -----------------------------------------------------------------------------------


def test_an_electronic_consent_is_recorded_and_the_message_names_the_recipient_and_end(
    caseworker_client, caseworker, northside
):
    case = make_case()
    response = caseworker_client.post(
        consent_url(case, "record/"), consent_form(northside), **HTMX_TAB
    )
    consent = case.consents.get()
    assert consent.organization == northside and consent.method == Method.ELECTRONIC
    assert consent.data == ["details"] and consent.recorded_by == caseworker
    html = response.content.decode()
    assert f"Consent recorded for Northside Legal Aid, until {day(consent.ends_on)}." in html
    assert tag_of(html, consent) == "Active"
    history = caseworker_client.get(f"/cases/{case.pk}/history/").content.decode()
    assert (
        "Recorded the client&#x27;s consent for Northside Legal Aid (Case details), "
        f"{consent.starts_on.isoformat()} to {consent.ends_on.isoformat()}" in history
    )


def test_a_verbal_consent_names_its_witness(caseworker_client, northside):
    case = make_case()
    before = counts()
    response = caseworker_client.post(
        consent_url(case, "record/"), consent_form(northside, method=Method.VERBAL), **HTMX_TAB
    )
    assert "A verbal consent names its witness." in response.content.decode()
    assert counts() == before

    response = caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(northside, method=Method.VERBAL, witness="Maria Lopez"),
        **HTMX_TAB,
    )
    assert case.consents.get().witness == "Maria Lopez"
    assert "Verbal, with a witness: witnessed by Maria Lopez" in response.content.decode()


def test_a_consent_for_every_partner_of_a_program(caseworker_client):
    case = make_case()
    program = ProgramFactory(code="SNAP")
    form = consent_form(PartnerOrganizationFactory(name="Unused"))
    form["recipient"] = f"program:{program.pk}"
    caseworker_client.post(consent_url(case, "record/"), form, **HTMX_TAB)
    consent = case.consents.get()
    assert consent.program == program and consent.organization is None


def test_a_signed_form_is_stored_as_an_internal_attachment_and_linked(
    caseworker_client, northside, private_storage
):
    case = make_case()
    upload = SimpleUploadedFile("consent.pdf", PDF, content_type="application/pdf")
    response = caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(northside, method=Method.SIGNED_FORM, document=upload),
        **HTMX_TAB,
    )
    consent = case.consents.get()
    attachment = case.attachments.get()
    assert consent.document == attachment
    assert not attachment.shared_with_partners and attachment.original_name == "consent.pdf"
    download = f"/cases/{case.pk}/attachments/{attachment.pk}/download/"
    assert f'href="{download}">consent.pdf</a>' in response.content.decode()
    assert caseworker_client.get(download).status_code == 200


def test_a_refused_signed_consent_leaves_no_attachment_and_no_file(
    caseworker_client, northside, private_storage
):
    case = make_case()
    before = counts()
    upload = SimpleUploadedFile("consent.pdf", PDF, content_type="application/pdf")
    response = caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(
            northside,
            method=Method.SIGNED_FORM,
            document=upload,
            ends_on=(today() - timedelta(days=1)).isoformat(),
        ),
        **HTMX_TAB,
    )
    assert "The consent ends before it starts." in response.content.decode()
    assert counts() == before
    assert [p for p in private_storage.rglob("*") if p.is_file()] == []


def test_a_signed_form_consent_without_its_upload_is_refused(caseworker_client, northside):
    case = make_case()
    before = counts()
    response = caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(northside, method=Method.SIGNED_FORM),
        **HTMX_TAB,
    )
    assert "Upload the signed form, or choose another way." in response.content.decode()
    assert counts() == before


def test_substance_use_records_need_a_written_consent_with_its_part_2_fields(
    caseworker_client, northside
):
    case = make_case()
    before = counts()
    sensitive = ["details", "notes", "substance_use"]
    response = caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(northside, covers=sensitive, method=Method.VERBAL, witness="Maria Lopez"),
        **HTMX_TAB,
    )
    html = response.content.decode()
    assert "Substance-use records need a written consent (signed or electronic)." in html
    assert "Say how much and what kind of information is disclosed." in html
    assert "Give the date the consent was signed." in html
    assert counts() == before

    response = caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(
            northside,
            covers=sensitive,
            information="Treatment dates and the clinic's name",
            signed_on=today().isoformat(),
        ),
        **HTMX_TAB,
    )
    consent = case.consents.get()
    assert consent.sensitive and consent.information == "Treatment dates and the clinic's name"
    assert consent.signed_on == today()
    assert "Sensitive: substance use (42 CFR Part 2)" in response.content.decode()


def test_the_part_2_category_is_labelled_and_its_fields_explained(caseworker_client):
    html = caseworker_client.get(consent_url(make_case()) + "?add=1").content.decode()
    assert "Sensitive: substance use (42 CFR Part 2)" in html
    assert "Required when the consent covers substance-use records" in html
    assert "Information to be disclosed" in html and "Date signed" in html


def test_a_new_consent_replaces_one_in_force(caseworker_client, northside):
    case = make_case()
    old = record_consent(case, northside)
    html = caseworker_client.get(consent_url(case) + "?add=1").content.decode()
    assert f'<option value="{old.pk}">Northside Legal Aid' in html
    caseworker_client.post(
        consent_url(case, "record/"),
        consent_form(northside, covers=["details", "notes"], supersedes=old.pk),
        **HTMX_TAB,
    )
    new = case.consents.exclude(pk=old.pk).get()
    assert new.supersedes == old


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"ends_on": (timezone.localdate() - timedelta(days=1)).isoformat()},
            "The consent ends before it starts.",
        ),
        ({"purpose": ""}, "Say what the consent is for."),
        ({"covers": []}, "Choose what the consent covers."),
        ({"covers": ["notes"]}, "A consent covers the case details"),
        ({"method": ""}, "Choose how the consent was given."),
        ({"recipient": ""}, "Choose the partner organization, or a program"),
        ({"starts_on": "not a date"}, "Enter a valid date."),
    ],
)
def test_bad_input_is_shown_on_its_field_and_nothing_is_stored(
    caseworker_client, northside, change, error
):
    case = make_case()
    before = counts()
    response = caseworker_client.post(
        consent_url(case, "record/"), consent_form(northside, **change), **HTMX_TAB
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert error in html and "usa-error-message" in html
    assert "Nothing was recorded." in html
    assert counts() == before


def test_a_consent_for_an_inactive_organization_is_refused(caseworker_client):
    case = make_case()
    closed = PartnerOrganizationFactory(name="Closed Shelter", active=False)
    before = counts()
    response = caseworker_client.post(
        consent_url(case, "record/"), consent_form(closed), **HTMX_TAB
    )
    assert "Closed Shelter is inactive: it takes no new consent." in response.content.decode()
    assert counts() == before


def test_a_partner_user_can_neither_open_the_tab_nor_record(client, partner_agent, northside):
    case = make_case()
    client.force_login(partner_agent)
    assert client.post(consent_url(case, "record/"), consent_form(northside)).status_code == 403
    assert client.get(consent_url(case)).status_code == 403
    assert not Consent.objects.exists()


# Revoking ------------------------------------------------------------------------------------


def test_revoke_asks_for_the_reason_and_says_what_will_happen(caseworker_client, northside):
    case = make_case()
    consent = record_consent(case, northside)
    html = caseworker_client.get(consent_url(case) + f"?revoke={consent.pk}").content.decode()
    assert "Revoke the consent for Northside Legal Aid?" in html
    assert "Partners covered only by this consent lose access to the case at once" in html
    assert f'action="/cases/{case.pk}/consent/{consent.pk}/revoke/"' in html
    assert Consent.objects.get(pk=consent.pk).revoked_at is None


def test_revoking_ends_the_partners_access_at_once(
    client, caseworker, agency_manager, partner_agent
):
    case, _ = make_referral(agent_user=partner_agent, actor=agency_manager)
    client.force_login(partner_agent)
    assert client.get(f"/portal/cases/{case.pk}/").status_code == 200

    client.force_login(caseworker)
    consent = case.consents.get()
    response = client.post(
        consent_url(case, f"{consent.pk}/revoke/"),
        {"reason": "The client withdrew consent by phone"},
        **HTMX_TAB,
    )
    html = response.content.decode()
    assert "Consent for Northside Legal Aid revoked." in html
    assert tag_of(html, consent) == "Revoked"
    assert not case.team.get(user=partner_agent).is_active
    assert case.referrals.get().state == Referral.State.WITHDRAWN

    client.force_login(partner_agent)
    assert client.get(f"/portal/cases/{case.pk}/").status_code == 404
    client.force_login(caseworker)
    history = client.get(f"/cases/{case.pk}/history/").content.decode()
    name = partner_agent.get_full_name()
    assert f"{name}&#x27;s access (Northside Legal Aid) ended: consent withdrawn" in history
    assert "Revoked the consent for Northside Legal Aid: The client withdrew consent" in history


def test_revoking_twice_or_without_a_reason_shows_the_error(caseworker_client, northside):
    case = make_case()
    consent = record_consent(case, northside)
    url = consent_url(case, f"{consent.pk}/revoke/")
    response = caseworker_client.post(url, {"reason": ""}, **HTMX_TAB)
    assert "Say why the consent is revoked." in response.content.decode()
    assert Consent.objects.get(pk=consent.pk).revoked_at is None

    caseworker_client.post(url, {"reason": "Withdrawn"}, **HTMX_TAB)
    before = counts()
    response = caseworker_client.post(url, {"reason": "Withdrawn again"}, **HTMX_TAB)
    assert response.status_code == 200
    assert "This consent was already revoked." in response.content.decode()
    assert counts() == before
    assert Consent.objects.get(pk=consent.pk).revoked_reason == "Withdrawn"


def test_a_consent_of_another_case_is_404(caseworker_client, northside):
    consent = record_consent(make_case(), northside)
    case = make_case()
    url = consent_url(case, f"{consent.pk}/revoke/")
    assert caseworker_client.post(url, {"reason": "x"}).status_code == 404


# Emergency access ----------------------------------------------------------------------------


def test_a_manager_grants_emergency_access_and_the_organization_can_then_be_referred(
    manager_client, outsider, harbor
):
    case = make_case(status=Status.THIRD_PARTY)
    refused = manager_client.post(
        f"/cases/{case.pk}/team/add/", {"user": outsider.pk}, **HTMX_TAB
    ).content.decode()
    assert "No consent of the client covers Harbor Family Services now" in refused

    response = manager_client.post(
        consent_url(case, "emergency/"),
        {"organization": harbor.pk, "reason": "Eviction hearing tomorrow", "hours": "48"},
        follow=True,
    )
    grant = EmergencyAccess.objects.get(case=case)
    assert grant.organization == harbor
    assert timedelta(hours=47) < grant.expires_at - grant.granted_at <= timedelta(hours=48)
    html = response.content.decode()
    assert "Emergency access granted to Harbor Family Services until" in html

    manager_client.post(f"/cases/{case.pk}/team/add/", {"user": outsider.pk}, **HTMX_TAB)
    assert case.team.get(user=outsider).referral.state == Referral.State.PENDING
    referral = services.referral_to_organization(actor=case.owner, case=case, organization=harbor)
    assert referral.organization == harbor


def test_the_banner_shows_on_every_tab_while_emergency_access_is_active(
    caseworker_client, agency_manager, harbor
):
    case = make_case()
    services.emergency_access_grant(
        actor=agency_manager, case=case, organization=harbor, reason="Eviction hearing"
    )
    grant = EmergencyAccess.objects.get()
    until = timezone.localtime(grant.expires_at)
    banner = (
        f"<strong>Emergency access:</strong> Harbor Family Services until "
        f'<time datetime="{until:%Y-%m-%dT%H:%M:%S}'
    )
    for tab in ("", "notes/", "consent/"):
        html = caseworker_client.get(f"/cases/{case.pk}/{tab}").content.decode()
        assert banner in html and "— Eviction hearing" in html
    consent_tab = caseworker_client.get(consent_url(case)).content.decode()
    assert "Active</span>" in consent_tab and "Eviction hearing" in consent_tab
    history = caseworker_client.get(f"/cases/{case.pk}/history/").content.decode()
    assert (
        f"Granted Harbor Family Services emergency access until {until:%b %-d, %Y %-I:%M %p}: "
        "Eviction hearing" in history
    )


def test_an_open_case_page_gets_the_banner_with_its_next_live_update(
    caseworker_client, agency_manager, harbor
):
    case = make_case()
    cursor = case.events.order_by("-pk").first().pk
    services.emergency_access_grant(
        actor=agency_manager, case=case, organization=harbor, reason="Eviction hearing"
    )
    html = caseworker_client.get(
        f"/cases/{case.pk}/live/", {"after": cursor, "tab": "details"}
    ).content.decode()
    assert 'id="case-status" class="cw-case-status" hx-swap-oob="true"' in html
    assert "<strong>Emergency access:</strong> Harbor Family Services until" in html


def test_a_lapsed_emergency_access_shows_as_lapsed_and_no_banner(
    caseworker_client, agency_manager, harbor
):
    case = make_case()
    with clock.on(lambda: timezone.now() - timedelta(hours=10)):
        services.emergency_access_grant(
            actor=agency_manager, case=case, organization=harbor, reason="Hearing", hours=2
        )
    html = caseworker_client.get(consent_url(case)).content.decode()
    assert "Lapsed</span>" in html
    assert "<strong>Emergency access:</strong>" not in html


def test_caseworkers_do_not_see_the_grant_form_and_their_post_is_403(
    client, agency_manager, caseworker, harbor
):
    case = make_case()
    client.force_login(agency_manager)
    assert "Grant emergency access" in client.get(consent_url(case)).content.decode()
    client.force_login(caseworker)
    assert "Grant emergency access" not in client.get(consent_url(case)).content.decode()
    response = client.post(
        consent_url(case, "emergency/"),
        {"organization": harbor.pk, "reason": "Hearing", "hours": "72"},
    )
    assert response.status_code == 403
    assert not EmergencyAccess.objects.exists()


@pytest.mark.parametrize(
    ("hours", "error"),
    [("0", "greater than or equal to 1"), ("169", "less than or equal to 168")],
)
def test_emergency_access_lasts_one_to_168_hours(manager_client, harbor, hours, error):
    case = make_case()
    response = manager_client.post(
        consent_url(case, "emergency/"),
        {"organization": harbor.pk, "reason": "Hearing", "hours": hours},
    )
    assert error in response.content.decode()
    assert not EmergencyAccess.objects.exists()


# Where partners are chosen -------------------------------------------------------------------


def test_partners_new_shows_whether_a_consent_covers_each_organization(
    caseworker_client, agency_manager, northside, harbor
):
    case = make_case()
    consent = record_consent(case, northside)
    westside = PartnerOrganizationFactory(name="Westside Clinic")
    services.emergency_access_grant(
        actor=agency_manager, case=case, organization=westside, reason="Hearing"
    )
    until = timezone.localtime(EmergencyAccess.objects.get().expires_at)
    html = caseworker_client.get(f"/cases/{case.pk}/partners/?add=1").content.decode()
    assert f">Northside Legal Aid · Consent until {day(consent.ends_on)}</option>" in html
    assert ">Harbor Family Services · No consent</option>" in html
    assert f">Westside Clinic · Emergency access until {until:%b %-d, %Y %-I:%M %p}<" in html
    assert f'<a class="usa-link" href="{consent_url(case)}">record a consent</a>' in html

    options = caseworker_client.get(
        f"/cases/{case.pk}/partners/options/", {"q": "o"}
    ).content.decode()
    assert f">Northside Legal Aid · Consent until {day(consent.ends_on)}</option>" in options
    assert ">Harbor Family Services · No consent</option>" in options


def test_partner_options_answer_in_the_same_number_of_queries_for_more_organizations(
    caseworker_client, django_assert_max_num_queries
):
    case = make_case()
    for n in range(20):
        record_consent(case, PartnerOrganizationFactory(name=f"Partner {n:02}"))
    with django_assert_max_num_queries(8):
        caseworker_client.get(f"/cases/{case.pk}/partners/options/", {"q": "Partner"})


def test_the_case_team_picker_shows_the_consent_state_of_each_organization(
    caseworker_client, northside, partner_agent, outsider
):
    case = make_case(status=Status.THIRD_PARTY)
    consent = record_consent(case, northside)
    html = caseworker_client.get(f"/cases/{case.pk}/team/").content.decode()
    assert f'<optgroup label="Northside Legal Aid · Consent until {day(consent.ends_on)}">' in html
    assert '<optgroup label="Harbor Family Services · No consent">' in html

    chosen = caseworker_client.get(
        f"/cases/{case.pk}/team/", {"user": outsider.pk}
    ).content.decode()
    assert "Harbor Family Services: No consent." in chosen
    assert f'href="{consent_url(case)}">Record a consent</a>' in chosen


def test_the_team_picker_computes_consent_states_in_one_batch(caseworker_client):
    def picker_queries(case) -> int:
        with CaptureQueriesContext(connection) as queries:
            caseworker_client.get(f"/cases/{case.pk}/team/", **HTMX_TAB)
        return len(queries)

    case = make_case(status=Status.THIRD_PARTY)
    PartnerAgentFactory(organization=PartnerOrganizationFactory(name="First"))
    few = picker_queries(case)
    for n in range(6):
        organization = PartnerOrganizationFactory(name=f"Org {n}")
        PartnerAgentFactory(organization=organization)
        record_consent(case, organization)
    assert picker_queries(case) == few


def test_a_no_consent_refusal_links_to_the_consent_tab(manager_client, outsider):
    case = make_case(status=Status.THIRD_PARTY)
    response = manager_client.post(f"/cases/{case.pk}/team/add/", {"user": outsider.pk}, **HTMX_TAB)
    html = response.content.decode()
    assert "No consent of the client covers Harbor Family Services now" in html
    assert f'<a class="usa-link" href="{consent_url(case)}">Record a consent</a>' in html
    assert not case.team.filter(user=outsider).exists()


# Part 2 flag of the agency's records ----------------------------------------------------------


def test_records_can_be_marked_part_2_and_the_list_says_so(caseworker_client, private_storage):
    case = make_case()
    form = caseworker_client.get(f"/cases/{case.pk}/notes/").content.decode()
    assert "Substance-use record (42 CFR Part 2)" in form
    assert 'name="substance_use"' in form and 'name="substance_use" checked' not in form

    html = caseworker_client.post(
        f"/cases/{case.pk}/notes/add/",
        {"body": "Attends the clinic weekly", "substance_use": "on"},
        **HTMX_TAB,
    ).content.decode()
    assert Note.objects.get().substance_use
    assert ">Part 2</span>" in html

    caseworker_client.post(f"/cases/{case.pk}/notes/add/", {"body": "Called"}, **HTMX_TAB)
    assert not Note.objects.get(body="Called").substance_use

    caseworker_client.post(
        f"/cases/{case.pk}/attachments/add/",
        {"file": SimpleUploadedFile("plan.txt", b"Plan"), "substance_use": "on"},
        **HTMX_TAB,
    )
    assert Attachment.objects.get().substance_use


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("activities", {"type": "call", "subject": "Clinic call", "status": "planned"}),
        ("servicerequests", {"title": "Treatment", "status": "open", "priority": "normal"}),
    ],
)
def test_activities_and_service_requests_take_the_part_2_flag(caseworker_client, kind, fields):
    case = make_case()
    html = caseworker_client.post(
        f"/cases/{case.pk}/{kind}/add/", {**fields, "substance_use": "on"}, **HTMX_TAB
    ).content.decode()
    assert ">Part 2</span>" in html
    assert KINDS[kind].model.objects.get().substance_use
