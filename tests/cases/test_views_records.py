"""Agency workspace: the Activities, Attachments, Service Requests and Notes tabs and the
History tab."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cases import services
from cases.models import Attachment, Case, CaseEvent, Note, ServiceRequest
from tests.factories import make_case, make_referral

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

Status = Case.Status
HTMX_TAB = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "case-tabs"}


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path, "base_url": None},
        },
    }
    return tmp_path


def checkbox_checked(html: str) -> bool:
    tag = re.search(r'<input[^>]*name="shared_with_partners"[^>]*>', html).group(0)
    return "checked" in tag


@pytest.mark.parametrize(
    ("kind", "shared"),
    [("activities", True), ("servicerequests", True), ("notes", False), ("attachments", False)],
)
def test_shared_with_partners_defaults_per_record_kind(caseworker_client, kind, shared):
    case = make_case()
    html = caseworker_client.get(f"/cases/{case.pk}/{kind}/").content.decode()
    assert "Shared with partners" in html
    assert checkbox_checked(html) is shared


def test_a_caseworker_adds_a_note_not_shared_by_default(caseworker_client, caseworker):
    case = make_case()
    response = caseworker_client.post(
        f"/cases/{case.pk}/notes/add/", {"body": "Called the landlord."}, **HTMX_TAB
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="case-tabs"')
    assert "Note added (not shared with partners)." in html
    assert "Called the landlord." in html and "Agency only" in html
    note = Note.objects.get(case=case)
    assert note.author == caseworker and not note.shared_with_partners and not note.by_partner


def test_a_shared_note_is_marked_shared(caseworker_client):
    case = make_case()
    response = caseworker_client.post(
        f"/cases/{case.pk}/notes/add/", {"body": "For the partner", "shared_with_partners": "on"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/notes/"
    assert Note.objects.get(case=case).shared_with_partners


def test_an_empty_note_is_a_form_error_next_to_the_field(caseworker_client):
    case = make_case()
    response = caseworker_client.post(f"/cases/{case.pk}/notes/add/", {"body": ""})
    assert response.status_code == 200
    assert re.search(r'id="id_body_error_1"[^>]*>This field is required', response.content.decode())
    assert not Note.objects.exists()


def test_activities_and_service_requests_are_added_with_their_fields(caseworker_client):
    case = make_case()
    caseworker_client.post(
        f"/cases/{case.pk}/activities/add/",
        {
            "type": "call",
            "subject": "Call the applicant",
            "status": "planned",
            "due_date": "2030-01-31",
            "shared_with_partners": "on",
        },
    )
    caseworker_client.post(
        f"/cases/{case.pk}/servicerequests/add/",
        {"title": "Rental assistance", "status": "open", "priority": "high"},
    )
    activity = case.activitys.get()
    assert activity.subject == "Call the applicant" and activity.shared_with_partners
    assert str(activity.due_date) == "2030-01-31"
    request = ServiceRequest.objects.get(case=case)
    assert request.priority == "high" and request.number.startswith("SR-")
    assert not request.shared_with_partners
    html = caseworker_client.get(f"/cases/{case.pk}/servicerequests/").content.decode()
    assert request.number in html and "Rental assistance" in html


def test_an_unknown_record_kind_is_404(caseworker_client):
    case = make_case()
    assert caseworker_client.post(f"/cases/{case.pk}/secrets/add/", {}).status_code == 404


def test_records_written_by_partner_agents_are_marked_with_the_partner_and_name(
    caseworker_client, partner_agent
):
    case, _ = make_referral(agent_user=partner_agent, accepted=True)
    services.record_add(actor=partner_agent, case=case, kind="notes", body="Met the family.")
    html = caseworker_client.get(f"/cases/{case.pk}/notes/").content.decode()
    assert re.search(
        r'<span class="usa-tag cw-tag-partner">Partner</span> '
        + re.escape(partner_agent.get_full_name()),
        html,
    )


def test_records_are_listed_newest_first(caseworker_client, caseworker):
    case = make_case()
    for body in ("Note-A", "Note-B", "Note-C"):
        services.record_add(actor=caseworker, case=case, kind="notes", body=body)
    html = caseworker_client.get(f"/cases/{case.pk}/notes/").content.decode()
    assert html.index("Note-C") < html.index("Note-B") < html.index("Note-A")


def test_the_service_request_status_is_editable(caseworker_client, caseworker):
    case = make_case()
    request = services.record_add(
        actor=caseworker, case=case, kind="servicerequests", title="Utility shutoff"
    )
    response = caseworker_client.post(
        f"/cases/{case.pk}/servicerequests/{request.pk}/status/",
        {"status": "in_progress"},
        **HTMX_TAB,
    )
    assert f"{request.number} is now In progress." in response.content.decode()
    request.refresh_from_db()
    assert request.status == "in_progress"
    assert case.events.filter(verb=CaseEvent.Verb.RECORD_UPDATED).count() == 1


def test_an_invalid_status_changes_nothing(caseworker_client, caseworker):
    case = make_case()
    request = services.record_add(actor=caseworker, case=case, kind="servicerequests", title="X")
    response = caseworker_client.post(
        f"/cases/{case.pk}/servicerequests/{request.pk}/status/", {"status": "bogus"}, follow=True
    )
    assert "Choose one of the statuses." in response.content.decode()
    request.refresh_from_db()
    assert request.status == "open"


def test_a_service_request_of_another_case_is_404(caseworker_client, caseworker):
    other = make_case()
    request = services.record_add(actor=caseworker, case=other, kind="servicerequests", title="X")
    case = make_case()
    url = f"/cases/{case.pk}/servicerequests/{request.pk}/status/"
    assert caseworker_client.post(url, {"status": "closed"}).status_code == 404
    request.refresh_from_db()
    assert request.status == "open"


# Attachments ---------------------------------------------------------------------------------


def upload(name="letter.txt", content=b"Dear applicant,", content_type="text/plain"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def test_an_upload_is_stored_and_downloaded_through_the_checked_view(
    caseworker_client, private_storage
):
    case = make_case()
    response = caseworker_client.post(
        f"/cases/{case.pk}/attachments/add/",
        {"file": upload(), "description": "Landlord letter"},
        **HTMX_TAB,
    )
    html = response.content.decode()
    assert "Attachment added (not shared with partners)." in html
    attachment = Attachment.objects.get(case=case)
    assert attachment.original_name == "letter.txt" and not attachment.shared_with_partners
    download_url = f"/cases/{case.pk}/attachments/{attachment.pk}/download/"
    assert f'href="{download_url}"' in html
    response = caseworker_client.get(download_url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"Dear applicant,"
    assert case.events.filter(verb=CaseEvent.Verb.DOWNLOADED).count() == 1


@pytest.mark.parametrize(
    ("file", "error"),
    [
        (upload("program.exe", b"MZ\x90\x00"), "This type of file is not accepted."),
        (upload("report.pdf", b"just text"), "content does not match its extension"),
        (upload("empty.txt", b""), "The submitted file is empty."),
        (upload("big.txt", b"x" * 2048), "The file is larger than"),
    ],
)
def test_a_rejected_upload_shows_the_reason_in_the_form_and_stores_nothing(
    caseworker_client, settings, private_storage, file, error
):
    settings.ATTACHMENT_MAX_BYTES = 1024
    case = make_case()
    response = caseworker_client.post(f"/cases/{case.pk}/attachments/add/", {"file": file})
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'id="id_file_error_1"[^>]*>[^<]*' + re.escape(error), html)
    assert not Attachment.objects.exists()
    assert not any(private_storage.rglob("*.*")) and not list((private_storage).rglob("*/*/*"))


def test_an_attachment_of_another_case_is_404(caseworker_client, caseworker, private_storage):
    other = make_case()
    attachment = services.attachment_add(actor=caseworker, case=other, upload=upload())
    case = make_case()
    url = f"/cases/{case.pk}/attachments/{attachment.pk}/download/"
    assert caseworker_client.get(url).status_code == 404


# History -------------------------------------------------------------------------------------


def test_history_says_who_did_what_and_when_newest_first(
    caseworker_client, agency_manager, partner_agent
):
    case, member = make_referral(agent_user=partner_agent, actor=agency_manager)
    services.case_mark_seen(user=partner_agent, case=case)
    services.referral_accept(actor=partner_agent, referral=member.referral)
    html = caseworker_client.get(f"/cases/{case.pk}/history/").content.decode()
    assert html.index("Accepted the referral") < html.index("Viewed by partner agent")
    assert html.index("Viewed by partner agent") < html.index("Refer to Third-Party")
    assert "Refer to Third-Party (Approved → Third-Party)" in html
    assert (
        f'{partner_agent.get_full_name()} <span class="cw-partner-marker">(partner)</span>' in html
    )
    assert agency_manager.get_full_name() in html
    assert "America/New_York" in html


def test_history_is_paginated(caseworker_client, caseworker):
    case = make_case()
    for n in range(55):
        services.record_add(actor=caseworker, case=case, kind="notes", body=f"n{n}")
    html = caseworker_client.get(f"/cases/{case.pk}/history/").content.decode()
    assert html.count("<tr class=") == 50
    assert f'href="/cases/{case.pk}/history/?page=2"' in html
    html = caseworker_client.get(f"/cases/{case.pk}/history/", {"page": 2}).content.decode()
    assert "Created the case" in html
