"""Partner agents add activities, notes and attachments and update service requests: always
shared with the agency, with only the fields a partner may choose, and only once they have
accepted the referral."""

import pytest
from django.urls import reverse
from guardian.shortcuts import remove_perm

from cases import services
from cases.models import Activity, Attachment, Case, CaseEvent, Note, Referral, ServiceRequest

from .conftest import refer, upload

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
FORGED = {
    "shared_with_partners": "",
    "by_partner": "",
    "is_primary": "on",
    "status": "closed",
}


def add_url(case, tab):
    return reverse("portal:record_add", args=[case.pk, tab])


def test_a_note_is_stored_as_the_agents_shared_record(client, partner_agent):
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    response = client.post(add_url(case, "notes"), {"body": "Called the landlord."})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:case_tab", args=[case.pk, "notes"])
    note = Note.objects.get(case=case)
    assert (note.body, note.author, note.by_partner, note.shared_with_partners) == (
        "Called the landlord.",
        partner_agent,
        True,
        True,
    )
    assert case.events.filter(verb=CaseEvent.Verb.RECORD_ADDED, actor=partner_agent).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Called the landlord." in page
    assert "Note added. The agency sees it now." in page


def test_an_htmx_post_answers_with_the_refreshed_panel(client, partner_agent):
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    response = client.post(
        add_url(case, "activities"),
        {"type": "call", "subject": "First call", "status": "done"},
        headers=HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="case-tabs"')
    assert "First call" in html
    assert "Activity added" in html
    activity = Activity.objects.get(case=case)
    assert (activity.type, activity.status, activity.by_partner) == ("call", "done", True)


def test_forged_fields_are_ignored(client, partner_agent, outsider, caseworker):
    case, _ = refer(partner_agent, accepted=True)
    other, _ = refer(outsider)
    client.force_login(partner_agent)
    forged = {**FORGED, "case": other.pk, "author": caseworker.pk, "number": "SR-999999"}
    assert client.post(add_url(case, "notes"), {"body": "Mine", **forged}).status_code == 302
    activity = {**forged, "subject": "Visit", "type": "visit", "status": "planned"}
    assert client.post(add_url(case, "activities"), activity).status_code == 302
    attachment = {**forged, "file": upload(), "description": "Lease"}
    assert client.post(add_url(case, "attachments"), attachment).status_code == 302
    for model in (Note, Activity, Attachment):
        record = model.objects.get()
        assert record.case == case
        assert record.author == partner_agent
        assert record.shared_with_partners and record.by_partner
    case.refresh_from_db()
    assert case.status == Case.Status.THIRD_PARTY
    assert not other.notes.exists()
    assert case.case_partners.get().is_primary


def test_forged_fields_on_a_service_request_change_only_its_status(
    client, partner_agent, caseworker
):
    case, _ = refer(partner_agent, accepted=True)
    request = services.record_add(
        actor=caseworker,
        case=case,
        kind="servicerequests",
        title="Emergency rental assistance",
        shared_with_partners=True,
    )
    client.force_login(partner_agent)
    url = reverse("portal:service_request_status", args=[case.pk, request.pk])
    response = client.post(
        url, {"status": "in_progress", "title": "Renamed", "shared_with_partners": "", "case": 0}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.title, request.shared_with_partners) == (
        "in_progress",
        "Emergency rental assistance",
        True,
    )
    assert case.events.filter(verb=CaseEvent.Verb.RECORD_UPDATED, actor=partner_agent).exists()


def test_a_service_request_with_an_unknown_status_is_refused(client, partner_agent, caseworker):
    case, _ = refer(partner_agent, accepted=True)
    request = services.record_add(
        actor=caseworker, case=case, kind="servicerequests", title="SR", shared_with_partners=True
    )
    client.force_login(partner_agent)
    url = reverse("portal:service_request_status", args=[case.pk, request.pk])
    response = client.post(url, {"status": "deleted"}, headers=HTMX)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    request.refresh_from_db()
    assert request.status == ServiceRequest.Status.OPEN


def test_service_requests_are_not_opened_in_the_portal(client, partner_agent):
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    response = client.post(add_url(case, "servicerequests"), {"title": "New one"})
    assert response.status_code == 404
    assert not ServiceRequest.objects.exists()


def test_an_empty_note_shows_the_error_in_the_form(client, partner_agent):
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    response = client.post(add_url(case, "notes"), {"body": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("virus.exe", b"MZ\x90\x00", "This type of file is not accepted"),
        ("scan.pdf", b"not a pdf at all", "does not match its extension"),
        ("empty.txt", b"", "The submitted file is empty."),
        ("big.txt", b"x" * (1024 * 1024 + 1), "The file is larger than 1 MB."),
    ],
)
def test_uploads_over_the_limits_show_a_form_error_and_store_nothing(
    client, partner_agent, settings, private_storage, name, content, error
):
    settings.ATTACHMENT_MAX_BYTES = 1024 * 1024
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    response = client.post(add_url(case, "attachments"), {"file": upload(name, content)})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Attachment.objects.exists()
    assert not any(p.is_file() for p in private_storage.rglob("*"))


def test_an_accepted_upload_is_stored_under_a_generated_name(
    client, partner_agent, private_storage
):
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    client.post(
        add_url(case, "attachments"),
        {"file": upload("../../lease.txt", b"Lease"), "description": "Signed lease"},
    )
    attachment = Attachment.objects.get()
    assert attachment.original_name == "lease.txt"
    assert "lease" not in attachment.file.name
    assert (private_storage / attachment.file.name).read_bytes() == b"Lease"


def test_writing_needs_the_tab_and_the_work_permission(client, partner_agent):
    case, _ = refer(partner_agent, tabs=["notes"], accepted=True)
    client.force_login(partner_agent)
    assert client.post(add_url(case, "activities"), {"subject": "x"}).status_code == 404
    remove_perm("cases.work_case", partner_agent, case)
    response = client.post(add_url(case, "notes"), {"body": "Not allowed"})
    assert response.status_code == 403
    assert not Note.objects.exists()
    html = client.get(reverse("portal:case_tab", args=[case.pk, "notes"])).content.decode()
    assert add_url(case, "notes") not in html


def test_adding_records_is_post_only(client, partner_agent):
    case, _ = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    assert client.get(add_url(case, "notes")).status_code == 405


def test_the_first_record_puts_an_accepted_referral_in_progress(client, partner_agent):
    case, member = refer(partner_agent, accepted=True)
    client.force_login(partner_agent)
    assert client.post(add_url(case, "notes"), {"body": "First call made."}).status_code == 302
    assert client.post(add_url(case, "notes"), {"body": "Second call made."}).status_code == 302
    member.refresh_from_db()
    assert member.referral_state == Referral.State.IN_PROGRESS
    assert Referral.objects.get(pk=member.referral_id).started_at is not None
    assert case.events.filter(verb=CaseEvent.Verb.STARTED, actor=partner_agent).count() == 1


@pytest.mark.parametrize(
    ("tab", "model", "data"),
    [
        ("notes", Note, {"body": "Too early"}),
        ("activities", Activity, {"type": "call", "subject": "Too early", "status": "done"}),
        ("attachments", Attachment, {"description": "Too early"}),
    ],
)
def test_a_pending_agent_who_posts_a_record_anyway_gets_an_error_and_nothing_is_stored(
    client, partner_agent, tab, model, data
):
    """The add forms are not shown before the referral is accepted; a forged POST is told
    why and stores nothing (no error page, no record, the referral still pending)."""
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    if tab == "attachments":
        data = {**data, "file": upload()}
    response = client.post(add_url(case, tab), data)
    assert response.status_code in (400, 409)
    assert "accept it before you record work" in response.content.decode()
    assert not model.objects.exists()
    member.refresh_from_db()
    assert member.referral_state == Referral.State.PENDING


def test_a_pending_agent_cannot_change_a_service_requests_status(client, partner_agent, caseworker):
    case, _ = refer(partner_agent)
    request = services.record_add(
        actor=caseworker, case=case, kind="servicerequests", title="SR", shared_with_partners=True
    )
    client.force_login(partner_agent)
    url = reverse("portal:service_request_status", args=[case.pk, request.pk])
    response = client.post(url, {"status": "closed"})
    assert response.status_code in (400, 409)
    assert "accept it before you record work" in response.content.decode()
    request.refresh_from_db()
    assert request.status == ServiceRequest.Status.OPEN
