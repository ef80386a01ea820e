"""SECURITY.md 25: a full disk during an upload is a handled error: a form error in the
agency UI and the portal, no Attachment row without its file, no partial file left.

Runs where the suite runs as root (it mounts a 1 MB tmpfs as the attachment storage);
skipped with the reason otherwise."""

import os
import shutil
import subprocess

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from cases import services
from cases.models import Attachment, Case, CaseEvent
from tests.factories import make_case, make_referral


@pytest.fixture
def full_disk(tmp_path, settings):
    """A 1 MB tmpfs as MEDIA_ROOT; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("full-disk test needs root to mount a small tmpfs")
    if shutil.which("mount") is None:
        pytest.skip("full-disk test needs mount(8)")
    mount_point = tmp_path / "media"
    mount_point.mkdir()
    result = subprocess.run(  # noqa: S603
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],  # noqa: S607
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"full-disk test: cannot mount a tmpfs here ({result.stderr.strip()})")
    settings.MEDIA_ROOT = mount_point
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": mount_point, "base_url": None},
        },
    }
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)  # noqa: S603, S607


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def big_pdf(size: int) -> bytes:
    return b"%PDF-1.7\n" + b"0" * (size - 9)


@pytest.mark.parametrize("size", [1_500_000, 3_000_000], ids=["in-memory", "temporary-file"])
def test_the_service_refuses_cleanly_when_the_disk_is_full(full_disk, agency_manager, size):
    case = make_case(actor=agency_manager)
    events = CaseEvent.objects.count()
    if size > 2_000_000:
        from django.core.files.uploadedfile import TemporaryUploadedFile

        upload = TemporaryUploadedFile("big.pdf", "application/pdf", size, None)
        upload.write(big_pdf(size))
        upload.seek(0)
    else:
        upload = SimpleUploadedFile("big.pdf", big_pdf(size), content_type="application/pdf")
    with pytest.raises(ValidationError, match="could not be stored"):
        services.attachment_add(actor=agency_manager, case=case, upload=upload)
    assert Attachment.objects.count() == 0
    assert CaseEvent.objects.count() == events
    assert stored_files(full_disk) == []


def test_the_agency_upload_form_shows_an_error_when_the_disk_is_full(
    full_disk, client, agency_manager
):
    case = make_case(actor=agency_manager)
    client.force_login(agency_manager)
    upload = SimpleUploadedFile("big.pdf", big_pdf(1_500_000), content_type="application/pdf")
    response = client.post(
        f"/cases/{case.pk}/attachments/add/", {"file": upload, "description": "scan"}
    )
    assert response.status_code in (200, 400)
    assert b"could not be stored" in response.content
    assert Attachment.objects.count() == 0
    assert stored_files(full_disk) == []


def test_the_portal_upload_form_shows_an_error_when_the_disk_is_full(
    full_disk, client, partner_agent, agency_manager
):
    # Partners record work only on a referral they accepted.
    case, _ = make_referral(
        agent_user=partner_agent,
        actor=agency_manager,
        tabs=["attachments", "notes"],
        accepted=True,
    )
    client.force_login(partner_agent)
    upload = SimpleUploadedFile("big.pdf", big_pdf(1_500_000), content_type="application/pdf")
    response = client.post(f"/portal/cases/{case.pk}/attachments/add/", {"file": upload})
    assert response.status_code in (200, 400)
    assert b"could not be stored" in response.content
    assert Attachment.objects.count() == 0
    assert stored_files(full_disk) == []


def test_a_file_that_fits_is_stored_whole(full_disk, agency_manager):
    case = make_case(actor=agency_manager)
    upload = SimpleUploadedFile("small.pdf", big_pdf(10_000), content_type="application/pdf")
    attachment = services.attachment_add(actor=agency_manager, case=case, upload=upload)
    assert (full_disk / attachment.file.name).stat().st_size == 10_000
    assert Case.objects.get(pk=case.pk).attachments.count() == 1
