"""Consent records: recorded by the agency through the services, never edited (superseded
instead), revoked once, with events; bad input is refused field by field, nothing stored."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from cases import services
from cases.models import CaseEvent, Consent
from tests.factories import PartnerOrganizationFactory, UserFactory, make_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

TODAY = date(2026, 12, 2)
Verb = CaseEvent.Verb


def record(actor, case, **fields):
    values = {
        "purpose": "Legal representation in the eviction case",
        "data": ["details", "notes"],
        "starts_on": TODAY,
        "ends_on": TODAY + timedelta(days=90),
        "method": Consent.Method.ELECTRONIC,
    }
    return services.consent_record(actor=actor, case=case, **{**values, **fields})


def errors_of(excinfo) -> dict:
    return {field: " ".join(messages) for field, messages in excinfo.value.message_dict.items()}


def test_a_caseworker_records_a_consent_for_an_organization_and_the_case_history_says_so(
    caseworker, northside
):
    case = make_case()
    consent = record(caseworker, case, organization=northside, data=["details", "notes", "notes"])
    assert consent.data == ["details", "notes"]
    assert consent.recipient == northside.name
    assert consent.recorded_by == caseworker
    assert consent.state_on(TODAY) == "active"
    event = case.events.get(verb=Verb.CONSENT_RECORDED)
    assert event.actor == caseworker
    assert event.data["consent_id"] == consent.pk
    assert event.data["recipient"] == northside.name


def test_a_consent_for_every_partner_of_a_program(caseworker):
    case = make_case()
    consent = record(caseworker, case, program=case.program)
    assert consent.recipient == f"Every partner of {case.program.name}"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"ends_on": TODAY - timedelta(days=1)}, "ends_on", "ends before it starts"),
        ({"data": []}, "data", "what the consent covers"),
        ({"data": ["details", "secrets"]}, "data", "Unknown data: secrets"),
        ({"method": Consent.Method.VERBAL}, "witness", "names its witness"),
        ({"method": Consent.Method.SIGNED_FORM}, "document", "Upload the signed form"),
        ({"purpose": "  "}, "purpose", "what the consent is for"),
        (
            {"data": ["substance_use"], "method": Consent.Method.VERBAL, "witness": "W"},
            "method",
            "written consent",
        ),
        ({"data": ["substance_use"]}, "information", "what kind of information"),
        ({"data": ["substance_use"]}, "signed_on", "date the consent was signed"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_nothing_is_stored(
    caseworker, northside, fields, field, message
):
    case = make_case()
    with pytest.raises(ValidationError) as excinfo:
        record(caseworker, case, organization=northside, **fields)
    assert message in errors_of(excinfo)[field]
    assert not Consent.objects.exists()
    assert not case.events.filter(verb=Verb.CONSENT_RECORDED).exists()


def test_an_inactive_organization_or_no_recipient_or_two_are_refused(caseworker):
    case = make_case()
    closed = PartnerOrganizationFactory(name="Closed Shop", active=False)
    for recipient in (
        {"organization": closed},
        {},
        {"organization": closed, "program": case.program},
    ):
        with pytest.raises(ValidationError) as excinfo:
            record(caseworker, case, **recipient)
        assert "organization" in errors_of(excinfo)
    with pytest.raises(ValidationError, match="Closed Shop is inactive"):
        record(caseworker, case, organization=closed)
    assert not Consent.objects.exists()


def test_a_sensitive_consent_in_writing_with_its_part_2_fields_is_recorded(
    caseworker, northside, private_storage
):
    case = make_case()
    form = services.attachment_add(
        actor=caseworker,
        case=case,
        upload=ContentFile(b"%PDF-1.4 signed", name="consent.pdf"),
        description="Signed consent",
    )
    consent = record(
        caseworker,
        case,
        organization=northside,
        data=["details", "substance_use"],
        method=Consent.Method.SIGNED_FORM,
        document=form,
        information="Treatment dates and the counselor's summary",
        signed_on=TODAY,
    )
    assert consent.sensitive
    other = make_case()
    with pytest.raises(ValidationError, match="attachment of this case"):
        record(caseworker, other, organization=northside, method="signed_form", document=form)


def test_revoking_stamps_who_when_and_why_once(agency_manager, caseworker, northside):
    case = make_case()
    consent = record(caseworker, case, organization=northside)
    revoked = services.consent_revoke(actor=agency_manager, consent=consent, reason="Client asked")
    assert (revoked.revoked_by, revoked.revoked_reason) == (agency_manager, "Client asked")
    assert revoked.state_on(TODAY) == "revoked"
    event = case.events.get(verb=Verb.CONSENT_REVOKED)
    assert (event.actor, event.data["reason"]) == (agency_manager, "Client asked")
    with pytest.raises(ValidationError, match="already revoked"):
        services.consent_revoke(actor=agency_manager, consent=consent, reason="Again")
    another = record(caseworker, case, organization=northside)
    with pytest.raises(ValidationError, match="why"):
        services.consent_revoke(actor=agency_manager, consent=another, reason=" ")
    assert case.events.filter(verb=Verb.CONSENT_REVOKED).count() == 1


def test_a_change_is_a_new_consent_that_supersedes_the_old_one_once(caseworker, northside):
    case = make_case()
    old = record(caseworker, case, organization=northside)
    new = record(caseworker, case, organization=northside, data=["details"], supersedes=old)
    old.refresh_from_db()
    assert old.state_on(TODAY) == "superseded"
    assert new.supersedes == old
    with pytest.raises(ValidationError, match="already revoked or superseded"):
        record(caseworker, case, organization=northside, supersedes=old)
    with pytest.raises(ValidationError, match="of this case"):
        record(caseworker, make_case(), organization=northside, supersedes=new)


def test_a_consent_is_dated_expired_or_in_the_future(caseworker, northside):
    consent = record(caseworker, make_case(), organization=northside)
    assert consent.state_on(TODAY - timedelta(days=1)) == "future"
    assert consent.state_on(TODAY + timedelta(days=91)) == "expired"


def test_partners_and_users_without_the_permission_cannot_record_or_revoke(
    caseworker, partner_agent, northside
):
    case = make_case()
    consent = record(caseworker, case, organization=northside)
    nobody = UserFactory(username="no-role")
    for actor in (partner_agent, nobody):
        with pytest.raises(PermissionDenied):
            record(actor, case, organization=northside)
        with pytest.raises(PermissionDenied):
            services.consent_revoke(actor=actor, consent=consent, reason="No")
    assert Consent.objects.count() == 1


def test_the_database_refuses_a_consent_that_ends_before_it_starts_or_names_no_recipient(
    caseworker, northside
):
    case = make_case()
    base = {
        "case": case,
        "purpose": "p",
        "data": ["details"],
        "method": "electronic",
        "recorded_by": caseworker,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(
            **base, organization=northside, starts_on=TODAY, ends_on=TODAY - timedelta(days=1)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(**base, starts_on=TODAY, ends_on=TODAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(
            **{**base, "method": "verbal"}, organization=northside, starts_on=TODAY, ends_on=TODAY
        )


def test_the_case_history_tells_who_recorded_and_revoked_which_consent(
    client, agency_manager, northside
):
    case = make_case()
    consent = record(agency_manager, case, organization=northside)
    services.consent_revoke(actor=agency_manager, consent=consent, reason="Client moved away")
    client.force_login(agency_manager)
    html = client.get(f"/cases/{case.pk}/history/").content.decode()
    assert (
        "Recorded the client&#x27;s consent for Northside Legal Aid (Case details, Notes), "
        f"{TODAY.isoformat()} to {(TODAY + timedelta(days=90)).isoformat()}" in html
    )
    assert "Revoked the consent for Northside Legal Aid: Client moved away" in html
