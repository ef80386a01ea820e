"""The append-only audit: security events are written for sign-ins, failures, lockouts,
denied object access, downloads and transitions; neither they nor case events can be
changed or deleted through the application or the admin."""

import pytest
from django.contrib import admin
from django.db import DatabaseError, connection, transaction
from django.test import Client

from accounts.models import SecurityEvent
from accounts.security import record
from cases import services
from cases.models import Case, CaseEvent
from tests.factories import make_case


def sign_in(client, username, password, url="/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def test_a_sign_in_is_logged_with_address_path_and_request_id(client, caseworker, password):
    response = sign_in(client, "ag", password, REMOTE_ADDR="198.51.100.23")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SIGN_IN)
    assert (event.user, event.username, event.ip, event.path) == (
        caseworker,
        "ag",
        "198.51.100.23",
        "/login/",
    )
    assert event.request_id == response["X-Request-ID"]


@pytest.mark.parametrize("username", ["ag", "no-such-user"])
def test_a_failed_sign_in_is_logged_with_the_name_tried(client, caseworker, username):
    sign_in(client, username, "wrong-password", url="/portal/login/")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SIGN_IN_FAILED)
    assert event.username == username
    assert event.user is None
    assert event.path == "/portal/login/"


def test_a_user_name_or_path_cannot_forge_a_line_of_the_log(client, caseworker, caplog):
    forged = "ag\nINFO caseworks.security security event sign_in user=admin"
    with caplog.at_level("INFO"):
        sign_in(client, forged, "wrong-password")
        client.get("/cases/%0aINFO%20forged/")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("caseworks.")]
    assert any("user=ag\\x0aINFO caseworks.security" in m for m in messages), messages
    assert any("/cases/\\x0aINFO forged/" in m for m in messages), messages
    assert not any("\n" in m for m in messages)
    # The event itself keeps the name exactly as tried.
    assert SecurityEvent.objects.get(kind=SecurityEvent.Kind.SIGN_IN_FAILED).username == forged


def test_a_lockout_is_logged(client, caseworker, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "ag", "wrong-password")
    assert SecurityEvent.objects.filter(kind="locked_out", username="ag").count() == 1


def test_sign_out_is_logged(client, caseworker):
    client.force_login(caseworker)
    client.post("/logout/")
    assert SecurityEvent.objects.filter(kind="sign_out", user=caseworker).count() == 1


def test_a_partner_on_an_agency_page_is_denied_and_logged(
    client, partner_agent, assert_denied_and_audited
):
    client.force_login(partner_agent)
    with assert_denied_and_audited() as events:
        response = client.post("/cases/new/", {"name": "forged"})
    assert response.status_code in (403, 404)
    assert events[0].kind == SecurityEvent.Kind.ACCESS_DENIED
    assert events[0].user == partner_agent
    assert events[0].data["status"] == response.status_code


def test_probing_for_a_missing_portal_case_is_logged(client, outsider, assert_denied_and_audited):
    client.force_login(outsider)
    with assert_denied_and_audited() as events:
        response = client.get("/portal/cases/987654/")
    assert response.status_code == 404
    assert events[0].kind == "access_denied"
    assert events[0].path == "/portal/cases/987654/"


def test_anonymous_requests_are_not_logged_as_denials(client, db):
    client.get("/portal/cases/1/")
    assert not SecurityEvent.objects.filter(kind="access_denied").exists()


def test_status_transitions_are_copied_to_the_security_log(agency_manager):
    case = make_case(actor=agency_manager)
    services.case_transition(actor=agency_manager, case=case, name="approve")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.TRANSITION)
    assert event.user == agency_manager
    assert event.data["case_id"] == case.pk
    assert event.data["transition"] == "approve"


def test_downloads_are_copied_to_the_security_log(agency_manager, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from cases.downloads import attachment_response

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    case = make_case(actor=agency_manager)
    upload = SimpleUploadedFile("letter.txt", b"hello", content_type="text/plain")
    attachment = services.attachment_add(actor=agency_manager, case=case, upload=upload)
    response = attachment_response(actor=agency_manager, attachment=attachment)
    assert b"".join(response.streaming_content) == b"hello"
    # Not response.close(): its request_finished signal would close the test's connection.
    response.file_to_stream.close()
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.DOWNLOAD)
    assert event.data["record_id"] == attachment.pk
    assert event.user == agency_manager


# Append-only ----------------------------------------------------------------------------------


@pytest.fixture
def security_event(caseworker):
    return record(SecurityEvent.Kind.SIGN_IN, user=caseworker)


@pytest.fixture
def case_event(agency_manager):
    return CaseEvent.objects.filter(case=make_case(actor=agency_manager)).first()


@pytest.mark.parametrize("fixture", ["security_event", "case_event"])
def test_audit_rows_cannot_be_changed_or_deleted_through_the_orm(request, fixture):
    event = request.getfixturevalue(fixture)
    model = type(event)
    event.data = {"forged": True}
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        model.objects.filter(pk=event.pk).update(data={})
    with pytest.raises(PermissionError):
        model.objects.filter(pk=event.pk).delete()
    with pytest.raises(PermissionError):
        model.objects.all().delete()
    assert model.objects.get(pk=event.pk).data != {"forged": True}


ADMIN_URLS = {
    "security_event": "/admin/accounts/securityevent/",
    "case_event": "/admin/cases/caseevent/",
}


@pytest.mark.parametrize("fixture", ["security_event", "case_event"])
def test_admins_read_audit_rows_but_cannot_add_change_or_delete_them(
    request, client, admin_user, fixture
):
    event = request.getfixturevalue(fixture)
    model = type(event)
    client.force_login(admin_user)
    before = list(model.objects.order_by("pk").values_list())
    base = ADMIN_URLS[fixture]
    listing = client.get(base)
    assert listing.status_code == 200
    assert b'name="action"' not in listing.content or b"delete_selected" not in listing.content
    page = client.get(f"{base}{event.pk}/change/")
    assert page.status_code == 200  # read-only view
    assert b'type="submit"' not in page.content or b'name="_save"' not in page.content
    assert client.post(f"{base}{event.pk}/change/", {"data": "{}"}).status_code == 403
    assert client.get(f"{base}{event.pk}/delete/").status_code == 403
    assert client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{base}add/").status_code == 403
    bulk = client.post(base, {"action": "delete_selected", "_selected_action": [event.pk]})
    assert bulk.status_code in (200, 302)
    assert list(model.objects.filter(pk__lte=before[-1][0]).order_by("pk").values_list()) == before


def test_model_admins_of_the_audit_trails_allow_no_writes(rf, admin_user):
    from cases.models import CaseEvent as CaseEventModel

    request = rf.get("/admin/")
    request.user = admin_user
    for model in (SecurityEvent, CaseEventModel):
        model_admin = admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_the_denial_helper_fails_when_a_denied_request_changes_data(
    client, agency_manager, assert_denied_and_audited
):
    """The helper itself: a change slips through, the check must notice."""
    case = make_case(actor=agency_manager)
    with pytest.raises(AssertionError, match="changed"), assert_denied_and_audited():
        Case.objects.filter(pk=case.pk).update(region="changed-by-a-bug")
        record(SecurityEvent.Kind.ACCESS_DENIED, user=agency_manager)


def test_the_denial_helper_fails_when_nothing_was_logged(client, db, assert_denied_and_audited):
    with pytest.raises(AssertionError, match="audit event"), assert_denied_and_audited():
        Client().get("/login/")


@pytest.mark.parametrize("url", ["/logout/", "/cases/new/", "/admin/logout/"])
def test_a_post_refused_by_the_csrf_check_is_logged(caseworker, url):
    client = Client(enforce_csrf_checks=True)
    client.force_login(caseworker)
    response = client.post(url, {"name": "forged"}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert b"This form has expired" in response.content
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.CSRF_REFUSED)
    assert (event.user, event.ip, event.path) == (caseworker, "203.0.113.9", url)
    assert event.data["method"] == "POST" and "CSRF" in event.data["reason"]


def test_a_csrf_refusal_is_answered_even_when_it_cannot_be_recorded(caseworker, monkeypatch):
    def fail(*args, **kwargs):
        raise DatabaseError("disk full")

    client = Client(enforce_csrf_checks=True)
    client.force_login(caseworker)
    monkeypatch.setattr("accounts.security.record", fail)
    response = client.post("/logout/")
    assert response.status_code == 403 and b"This form has expired" in response.content
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CSRF_REFUSED).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the triggers are PostgreSQL's; on SQLite the ORM's refusal is what holds",
)
@pytest.mark.parametrize(
    ("fixture", "table"),
    [("security_event", "casesite_securityevent"), ("case_event", "cases_caseevent")],
)
def test_audit_rows_cannot_be_changed_or_deleted_in_the_database_itself(request, fixture, table):
    """Past the ORM (plain SQL, as any client of the database): PostgreSQL refuses."""
    event = request.getfixturevalue(fixture)
    for statement in (
        f"UPDATE {table} SET data = '{{}}' WHERE id = %s",  # noqa: S608  (constant table names)
        f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
    ):
        with (
            pytest.raises(DatabaseError, match="Cannot"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [event.pk])
    assert type(event).objects.filter(pk=event.pk).exists()
