"""The one visibility rule (cases.access) through the services and the portal: no consent,
no referral and no access; a narrower consent narrows the Case Team's tabs; revocation and
expiry end access on the next request; emergency access is time-boxed; routing skips
organizations without consent and says why; substance-use records need a consent that
covers them and carry the 42 CFR Part 2 notice."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import SecurityEvent
from cases import access, services
from cases.models import (
    AccessEnd,
    CaseEvent,
    CaseTeamMember,
    CaseUserObjectPermission,
    Consent,
    EmergencyAccess,
    Referral,
)
from cases.permissions import visible_tabs
from cases.routing import services as routing_services
from casesite import clock
from tests.factories import (
    PartnerAgentFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)
from tests.portal.conftest import page_statements

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing", "private_storage"),
]
Verb = CaseEvent.Verb
ALL_TABS = ["activities", "attachments", "servicerequests", "notes"]


def third_party(actor):
    return make_case(status="third_party", actor=actor)


def portal(client, user, url):
    client.force_login(user)
    return client.get(url)


# Referral needs consent --------------------------------------------------------------------


def test_nobody_is_referred_a_case_without_a_consent_for_their_organization(
    agency_manager, partner_agent, northside
):
    case = third_party(agency_manager)
    with pytest.raises(ValidationError, match="No consent of the client covers") as refused:
        services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    assert refused.value.error_list[0].code == "no_consent"
    with pytest.raises(ValidationError, match="No consent"):
        services.referral_to_organization(actor=agency_manager, case=case, organization=northside)
    assert not Referral.objects.filter(case=case).exists()
    assert not case.team.filter(user=partner_agent).exists()
    record_consent(case, northside, actor=agency_manager)
    member = services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    assert member.access_until == access.end_of(case.consents.get().ends_on)
    assert member.access_end == AccessEnd.EXPIRED


def test_a_consent_for_another_organization_or_not_in_force_does_not_count(
    agency_manager, partner_agent, northside, harbor
):
    case = third_party(agency_manager)
    record_consent(case, harbor, actor=agency_manager)
    today = clock.now().date()
    with pytest.raises(ValidationError, match="Record a consent on or after"):
        record_consent(case, northside, actor=agency_manager, starts_on=today + timedelta(days=3))
    with pytest.raises(ValidationError, match="No consent"):
        services.case_team_add(actor=agency_manager, case=case, user=partner_agent)


def test_a_program_consent_covers_the_organizations_that_serve_the_program(
    agency_manager, partner_agent, outsider, northside, harbor
):
    case = third_party(agency_manager)
    northside.programs_served = [case.program.code]
    northside.save()
    record_consent(case, program=case.program, actor=agency_manager)
    assert access.disclosure_of(case=case, organization=northside).open
    assert not access.disclosure_of(case=case, organization=harbor).open
    services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    with pytest.raises(ValidationError, match="Harbor Family Services"):
        services.case_team_add(actor=agency_manager, case=case, user=outsider)


# Consent narrows the Case Team's tabs ------------------------------------------------------


def test_a_narrower_consent_narrows_the_grants_and_the_portal_tabs(
    client, agency_manager, partner_agent, northside
):
    case = third_party(agency_manager)
    record_consent(case, northside, actor=agency_manager, data=["details", "notes"])
    member = services.case_team_add(
        actor=agency_manager, case=case, user=partner_agent, tabs=ALL_TABS
    )
    assert member.tabs == ALL_TABS  # what the agency ticked stays as it was
    assert [tab.slug for tab in visible_tabs(user=partner_agent, case=case)] == ["notes"]
    assert portal(client, partner_agent, f"/portal/cases/{case.pk}/notes/").status_code == 200
    for tab in ("activities", "attachments", "servicerequests"):
        assert client.get(f"/portal/cases/{case.pk}/{tab}/").status_code == 404, tab


def test_consent_never_widens_what_the_case_team_ticked(
    client, agency_manager, partner_agent, northside
):
    case = third_party(agency_manager)
    record_consent(case, northside, actor=agency_manager)  # every tab
    services.case_team_add(actor=agency_manager, case=case, user=partner_agent, tabs=["notes"])
    assert [tab.slug for tab in visible_tabs(user=partner_agent, case=case)] == ["notes"]
    assert portal(client, partner_agent, f"/portal/cases/{case.pk}/activities/").status_code == 404


# Revocation, supersession, expiry ------------------------------------------------------------


def test_revocation_ends_the_access_at_once_and_the_agency_sees_why(
    client, agency_manager, partner_agent, northside
):
    case, member = make_referral(agent_user=partner_agent, actor=agency_manager, accepted=True)
    url = f"/portal/cases/{case.pk}/"
    assert portal(client, partner_agent, url).status_code == 200
    services.consent_revoke(
        actor=agency_manager, consent=case.consents.get(), reason="Client withdrew"
    )
    member.refresh_from_db()
    assert (member.is_active, member.access_end) == (False, AccessEnd.WITHDRAWN)
    assert member.referral.state == Referral.State.WITHDRAWN
    assert member.referral.reason == Referral.WithdrawReason.CONSENT_ENDED
    assert not CaseUserObjectPermission.objects.filter(user=partner_agent, content_object=case)
    ended = case.events.get(verb=Verb.ACCESS_ENDED)
    assert ended.data["why"] == "consent withdrawn"
    assert client.get(url).status_code == 404
    my_cases = client.get("/portal/").content.decode()
    assert f"Access to {case.number} ended on" in my_cases
    assert "consent withdrawn" in my_cases
    assert case.name not in my_cases


def test_a_superseding_consent_that_covers_less_narrows_at_once(
    client, agency_manager, partner_agent, northside
):
    case, _ = make_referral(agent_user=partner_agent, actor=agency_manager, tabs=ALL_TABS)
    old = case.consents.get()
    services.consent_record(
        actor=agency_manager,
        case=case,
        organization=northside,
        purpose="Only notes from now on",
        data=["details", "notes"],
        starts_on=old.starts_on,
        ends_on=old.ends_on,
        method=Consent.Method.VERBAL,
        witness="R. Diaz, caseworker",
        supersedes=old,
    )
    assert portal(client, partner_agent, f"/portal/cases/{case.pk}/notes/").status_code == 200
    assert client.get(f"/portal/cases/{case.pk}/activities/").status_code == 404
    granted = set(
        CaseUserObjectPermission.objects.filter(
            user=partner_agent, content_object=case
        ).values_list("permission__codename", flat=True)
    )
    assert granted == {"view_case", "work_case", "view_case_notes"}


def test_expiry_ends_access_on_the_next_request_before_the_job_runs(
    client, agency_manager, partner_agent, northside
):
    case, member = make_referral(agent_user=partner_agent, actor=agency_manager)
    consent = case.consents.get()
    client.force_login(partner_agent)
    assert client.get(f"/portal/cases/{case.pk}/").status_code == 200
    after = access.end_of(consent.ends_on) + timedelta(minutes=1)
    with clock.on(lambda: after):
        assert client.get(f"/portal/cases/{case.pk}/").status_code == 404
        my_cases = client.get("/portal/").content.decode()
        assert f"/portal/cases/{case.pk}/" not in my_cases
        assert f"Access to {case.number} ended on" in my_cases
        assert "consent expired" in my_cases
        # The grants are still there until the job runs; the request did not need them gone.
        assert CaseUserObjectPermission.objects.filter(user=partner_agent, content_object=case)
        assert services.access_end_lapsed() == 1
    member.refresh_from_db()
    assert (member.is_active, member.access_end) == (False, AccessEnd.EXPIRED)
    assert not CaseUserObjectPermission.objects.filter(user=partner_agent, content_object=case)


# Emergency access (break-glass) ------------------------------------------------------------


def test_emergency_access_lets_a_manager_refer_without_consent_for_72_hours(
    client, agency_manager, caseworker, partner_agent, northside
):
    case = third_party(agency_manager)
    with pytest.raises(PermissionDenied):
        services.emergency_access_grant(
            actor=caseworker, case=case, organization=northside, reason="Hearing tomorrow"
        )
    with pytest.raises(ValidationError) as refused:
        services.emergency_access_grant(
            actor=agency_manager, case=case, organization=northside, reason=" ", hours=500
        )
    assert set(refused.value.message_dict) == {"reason", "hours"}
    assert not EmergencyAccess.objects.exists()
    grant = services.emergency_access_grant(
        actor=agency_manager, case=case, organization=northside, reason="Hearing tomorrow"
    )
    assert grant.expires_at - grant.granted_at == timedelta(hours=72)
    event = case.events.get(verb=Verb.EMERGENCY_ACCESS)
    assert event.data["reason"] == "Hearing tomorrow"
    assert SecurityEvent.objects.filter(kind="emergency_access", user=agency_manager).count() == 1
    member = services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    assert member.access_until == grant.expires_at
    assert portal(client, partner_agent, f"/portal/cases/{case.pk}/").status_code == 200
    with clock.on(lambda: grant.expires_at + timedelta(seconds=1)):
        assert client.get(f"/portal/cases/{case.pk}/").status_code == 404
        assert "emergency access ended" in client.get("/portal/").content.decode()


def test_a_consent_recorded_during_emergency_access_keeps_the_partner_on(
    client, agency_manager, partner_agent, northside
):
    case = third_party(agency_manager)
    grant = services.emergency_access_grant(
        actor=agency_manager, case=case, organization=northside, reason="Hearing tomorrow"
    )
    services.case_team_add(actor=agency_manager, case=case, user=partner_agent)
    consent = record_consent(case, northside, actor=agency_manager)
    member = CaseTeamMember.objects.get(case=case, user=partner_agent)
    assert member.access_until == access.end_of(consent.ends_on)
    with clock.on(lambda: grant.expires_at + timedelta(hours=1)):
        assert portal(client, partner_agent, f"/portal/cases/{case.pk}/").status_code == 200
        assert services.access_end_lapsed() == 0


# Routing ------------------------------------------------------------------------------------


def test_routing_skips_an_organization_without_consent_and_says_why(
    agency_manager, northside, harbor
):
    ours = PartnerAgentFactory(
        user=UserFactory(username="ours"), organization=northside, programs=["SNAP"]
    )
    theirs = PartnerAgentFactory(
        user=UserFactory(username="theirs"), organization=harbor, programs=["SNAP"]
    )
    routing_services.assignment_rule_create(
        actor=None, name="Everyone", organizations=[northside, harbor], match_language=False
    )
    case = third_party(agency_manager)
    record_consent(case, harbor, actor=agency_manager)
    decision = routing_services.case_route(actor=agency_manager, case=case)
    assert decision.outcome == "assigned"
    assert case.team.get(role="partner_agent").user == theirs.user
    skipped = [c for c in decision.candidates if c["agent"] == ours.pk]
    assert skipped and skipped[0]["excluded"] == "no_consent"
    assert "consent" in skipped[0]["reason"]


# Substance-use records (42 CFR Part 2) -------------------------------------------------------


def _part2_case(actor, agent, *, sensitive: bool):
    case = third_party(actor)
    data = ["details", *ALL_TABS, *(["substance_use"] if sensitive else [])]
    organization = agent.partner_agent.organization
    record_consent(case, organization, actor=actor, data=data)
    services.case_team_add(actor=actor, case=case, user=agent, tabs=ALL_TABS)
    services.record_add(
        actor=actor,
        case=case,
        kind="notes",
        shared_with_partners=True,
        substance_use=True,
        body="PART2-TREATMENT-NOTE",
    )
    services.record_add(
        actor=actor, case=case, kind="notes", shared_with_partners=True, body="PLAIN-NOTE"
    )
    attachment = services.attachment_add(
        actor=actor,
        case=case,
        shared_with_partners=True,
        substance_use=True,
        upload=SimpleUploadedFile("letter.txt", b"PART2-FILE", content_type="text/plain"),
    )
    return case, attachment


def test_substance_use_records_stay_hidden_without_a_consent_that_covers_them(
    client, agency_manager, partner_agent
):
    case, attachment = _part2_case(agency_manager, partner_agent, sensitive=False)
    notes = portal(client, partner_agent, f"/portal/cases/{case.pk}/notes/").content.decode()
    assert "PLAIN-NOTE" in notes
    assert "PART2-TREATMENT-NOTE" not in notes
    assert "42 CFR part 2" not in notes
    url = f"/portal/cases/{case.pk}/attachments/{attachment.pk}/download/"
    assert client.get(url + "?notice=read").status_code == 404


def test_substance_use_records_carry_the_redisclosure_notice(client, agency_manager, partner_agent):
    case, attachment = _part2_case(agency_manager, partner_agent, sensitive=True)
    notes = portal(client, partner_agent, f"/portal/cases/{case.pk}/notes/").content.decode()
    assert "PART2-TREATMENT-NOTE" in notes
    assert access.REDISCLOSURE_NOTICE[:80] in notes
    url = f"/portal/cases/{case.pk}/attachments/{attachment.pk}/download/"
    first = client.get(url)
    assert first.status_code == 200
    assert access.REDISCLOSURE_NOTICE[:80] in first.content.decode()
    assert not case.events.filter(verb=Verb.DOWNLOADED).exists()
    file = client.get(url + "?notice=read")
    assert b"".join(file.streaming_content) == b"PART2-FILE"
    assert case.events.filter(verb=Verb.DOWNLOADED).count() == 1


def test_my_cases_asks_for_notices_only_when_an_access_ended_or_is_due_to_end(
    client, agency_manager, partner_agent, northside
):
    """Most requests carry no notice subquery: the partner's profile marks when one can
    exist (an access ended lately, or the earliest end among the agent's accesses came)."""
    case, _ = make_referral(agent_user=partner_agent, actor=agency_manager)
    client.force_login(partner_agent)
    client.get("/portal/")

    def asks_for_notices(when=None) -> bool:
        moment = when or clock.now()
        with clock.on(lambda: moment):
            sql = " ".join(page_statements(client, "/portal/"))
        return "access_end" in sql and "<> ''" in sql

    assert not asks_for_notices()
    # The consent's end came and the job has not run: the mark says look.
    after = access.end_of(case.consents.get().ends_on) + timedelta(minutes=1)
    assert asks_for_notices(after)
    services.consent_revoke(
        actor=agency_manager, consent=case.consents.get(), reason="Client withdrew"
    )
    assert asks_for_notices()
    assert "consent withdrawn" in client.get("/portal/").content.decode()
    # Thirty days on, the notice is gone and so is the question.
    assert not asks_for_notices(clock.now() + timedelta(days=31))
