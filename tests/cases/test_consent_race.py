"""A revocation that races a partner's note or upload (PostgreSQL, real threads): the
record is stored before the revocation or refused after it, never stored after it."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from cases import services
from cases.models import Attachment, CaseEvent, Note
from tests.factories import make_referral

from .test_concurrency import ROUNDS, postgresql_only, run_together  # noqa: F401

pytestmark = [
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def actor(agency_manager):
    return agency_manager


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    return tmp_path / "private"


def _note(agent, case):
    return services.record_add(actor=agent, case=case, kind="notes", body="Called the client back.")


def _upload(agent, case):
    return services.attachment_add(
        actor=agent,
        case=case,
        upload=SimpleUploadedFile("lease.txt", b"Lease, page 1", content_type="text/plain"),
    )


@pytest.mark.parametrize("write", [_note, _upload], ids=["note", "upload"])
def test_a_record_is_stored_before_the_revocation_or_refused_after_it(
    write, actor, partner_agent, private_storage
):
    model = Note if write is _note else Attachment
    seen = {"stored": 0, "refused": 0}
    for round_ in range(ROUNDS * 2):
        case, _ = make_referral(agent_user=partner_agent, actor=actor, accepted=True)
        consent = case.consents.get()
        revoke = lambda consent=consent: services.consent_revoke(  # noqa: E731
            actor=actor, consent=consent, reason="The client withdrew it"
        )
        add = lambda case=case: write(partner_agent, case)  # noqa: E731
        results, _ = run_together(*((revoke, add) if round_ % 2 else (add, revoke)))
        (kind_a, _), (kind_b, value_b) = results if round_ % 2 else results[::-1]
        assert kind_a == "ok", results  # the revocation always goes through
        consent.refresh_from_db()
        records = model.objects.filter(case=case, by_partner=True)
        if kind_b == "ok":
            record = records.get()
            assert record.created_at < consent.revoked_at
            seen["stored"] += 1
        else:
            assert isinstance(value_b, ValidationError), value_b
            assert not records.exists()
            assert not CaseEvent.objects.filter(case=case, verb="record_added").exists()
            seen["refused"] += 1
        # Whichever won, the partner's access is gone now.
        assert not case.team.filter(user=partner_agent, is_active=True).exists()
    if model is Attachment:
        # No refused upload left a file behind.
        stored_files = [p for p in private_storage.rglob("*") if p.is_file()]
        assert len(stored_files) == seen["stored"]
    assert sum(seen.values()) == ROUNDS * 2
