"""Nothing the partner may not see ever leaves the portal: 404 identical to a missing object,
internal fields and records absent from every response, files only through the checked view.
(SECURITY.md #2, #4, #5, #8.)"""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import URLPattern, reverse

from cases import services
from cases.models import Attachment, Case, CaseEvent, Referral, ServiceRequest
from portal import urls as portal_urls
from portal import views as portal_views
from tests.factories import PartnerAgentFactory, UserFactory, make_case, record_consent

from .conftest import ALL_TABS, add_records, normalized, refer, upload

pytestmark = pytest.mark.django_db

MISSING = 10**6
HTMX = {"HX-Request": "true"}
# Every portal URL with an object id, the method it answers, and how to fill it.
OBJECT_URLS = {
    "case": ("GET", lambda ids: [ids["case"]]),
    "case_tab": ("GET", ALL_TABS),  # one per tab
    "record_add": ("POST", ALL_TABS),
    "accept": ("POST", lambda ids: [ids["case"]]),
    "decline": ("POST", lambda ids: [ids["case"]]),
    "reassign": ("POST", lambda ids: [ids["case"]]),
    "referral_action": ("POST", None),  # one per action, below
    "intake_assign": ("POST", lambda ids: [ids["referral"]]),
    "attachment_download": ("GET", lambda ids: [ids["case"], ids["attachment"]]),
    "service_request_status": ("POST", lambda ids: [ids["case"], ids["servicerequest"]]),
}
NOT_OBJECT_IDS = {"password_reset_confirm"}  # a reset token, not an object
# The referral actions of the case page (`portal:referral_action`).
REFERRAL_ACTIONS = ("start", "waitlist", "resume", "complete", "fail")


def requests_for(ids) -> list[tuple[str, str]]:
    """(method, url) of every portal URL with object ids, filled with `ids`."""
    result = []
    for name, (method, args) in OBJECT_URLS.items():
        if args is None or isinstance(args, list):
            for slug in args or REFERRAL_ACTIONS:
                result.append((method, reverse(f"portal:{name}", args=[ids["case"], slug])))
        else:
            result.append((method, reverse(f"portal:{name}", args=args(ids))))
    return result


def send(client, method, url, **extra):
    data = {
        "body": "x",
        "reason": "conflict",
        "status": "closed",
        "to_user": 1,
        "member": 1,
        "outcome": "served",
        "note": "x",
        "review_on": "2999-01-01",
    }
    if method == "POST":
        return client.post(url, data, **extra)
    return client.get(url, **extra)


@pytest.fixture
def shared_case(partner_agent, caseworker, agency_manager, northside):
    """PA's case with one shared record of every kind, and a case of PA's organization
    waiting in its intake queue; ids of the case, its records and the intake referral."""
    case, _ = refer(partner_agent, name="Household of PA")
    add_records(case, actor=caseworker, shared=True, prefix="Shared")
    waiting = make_case(status=Case.Status.THIRD_PARTY, name="Household of PA, intake")
    record_consent(waiting, northside, actor=agency_manager)
    intake = services.referral_to_organization(
        actor=agency_manager, case=waiting, organization=northside
    )
    return case, {
        "case": case.pk,
        "attachment": case.attachments.get().pk,
        "servicerequest": case.servicerequests.get().pk,
        "referral": intake.pk,
    }


def test_the_object_url_table_covers_every_portal_url_with_an_id():
    with_ids = {
        entry.name
        for entry in portal_urls.urlpatterns
        if isinstance(entry, URLPattern) and "<" in str(entry.pattern)
    }
    assert with_ids - NOT_OBJECT_IDS == set(OBJECT_URLS)
    assert set(REFERRAL_ACTIONS) == set(portal_views.REFERRAL_ACTIONS)


@pytest.fixture
def harbor_manager(harbor):
    """A partner manager of PC's organization (not PA's)."""
    return PartnerAgentFactory(
        user=UserFactory(username="hm"), organization=harbor, role="manager"
    ).user


@pytest.mark.parametrize("who", ["outsider", "colleague", "other_manager"])
def test_other_partners_get_a_404_identical_to_a_missing_object(
    client,
    shared_case,
    outsider,
    partner_colleague,
    harbor_manager,
    assert_denied_and_audited,
    who,
):
    """PC (another organization), PB (same organization, not on the team) and another
    organization's partner manager with PA's ids: the same answer, byte for byte, as for
    ids that do not exist; nothing changes."""
    _, ids = shared_case
    users = {"outsider": outsider, "colleague": partner_colleague, "other_manager": harbor_manager}
    client.force_login(users[who])
    missing = dict.fromkeys(ids, MISSING)
    for (method, url), (_, missing_url) in zip(
        requests_for(ids), requests_for(missing), strict=True
    ):
        with assert_denied_and_audited():
            response = send(client, method, url)
        expected = send(client, method, missing_url)
        assert response.status_code == expected.status_code == 404, url
        assert normalized(response.content) == normalized(expected.content), url
        assert b"Household of PA" not in response.content
        assert "Content-Disposition" not in response


def test_wrong_methods_answer_405_whoever_asks(client, shared_case, outsider):
    _, ids = shared_case
    client.force_login(outsider)
    for method, url in requests_for(ids):
        other = "POST" if method == "GET" else "GET"
        assert send(client, other, url).status_code == 405, url


def test_a_record_of_another_case_under_the_agents_case_is_404_like_a_missing_one(
    client, shared_case, partner_agent, outsider, caseworker
):
    case, _ = shared_case
    theirs, _ = refer(outsider)
    add_records(theirs, actor=caseworker, shared=True, prefix="Theirs")
    foreign = {
        "attachment": theirs.attachments.get().pk,
        "servicerequest": theirs.servicerequests.get().pk,
    }
    client.force_login(partner_agent)
    download = "portal:attachment_download"
    status = "portal:service_request_status"
    closed = {"status": "closed"}
    pairs = [
        (
            client.get(reverse(download, args=[case.pk, foreign["attachment"]])),
            client.get(reverse(download, args=[case.pk, MISSING])),
        ),
        (
            client.post(reverse(status, args=[case.pk, foreign["servicerequest"]]), closed),
            client.post(reverse(status, args=[case.pk, MISSING]), closed),
        ),
    ]
    for response, expected in pairs:
        assert response.status_code == expected.status_code == 404
        assert normalized(response.content) == normalized(expected.content)
    assert theirs.servicerequests.get().status == ServiceRequest.Status.OPEN


def test_a_partner_manager_cannot_assign_another_organizations_intake_referral(
    client, partner_manager, partner_agent, harbor, agency_manager, assert_denied_and_audited
):
    """PM with the id of a referral waiting in another organization's intake queue: 404,
    identical to a missing one; the referral still waits there."""
    waiting = make_case(status=Case.Status.THIRD_PARTY, name="Harbor intake case")
    record_consent(waiting, harbor, actor=agency_manager)
    theirs = services.referral_to_organization(
        actor=agency_manager, case=waiting, organization=harbor
    )
    client.force_login(partner_manager)
    data = {"to_user": partner_agent.pk}
    with assert_denied_and_audited():
        response = client.post(reverse("portal:intake_assign", args=[theirs.pk]), data)
    expected = client.post(reverse("portal:intake_assign", args=[MISSING]), data)
    assert response.status_code == expected.status_code == 404
    assert normalized(response.content) == normalized(expected.content)
    assert b"Harbor intake case" not in response.content
    theirs.refresh_from_db()
    assert (theirs.state, theirs.agent) == (Referral.State.PENDING, None)
    assert b"Harbor intake case" not in client.get(reverse("portal:intake")).content


def test_agency_users_get_403_on_every_portal_url(client, shared_case, caseworker):
    _, ids = shared_case
    client.force_login(caseworker)
    for method, url in requests_for(ids):
        assert send(client, method, url).status_code in (403, 405), url


def test_anonymous_visitors_are_sent_to_the_portal_sign_in(client, shared_case):
    _, ids = shared_case
    for method, url in requests_for(ids):
        response = send(client, method, url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/portal/login/?next=")


def test_a_removed_agent_loses_the_case_and_its_files_at_the_next_request(
    client, shared_case, partner_agent, agency_manager
):
    case, ids = shared_case
    client.force_login(partner_agent)
    download = reverse("portal:attachment_download", args=[case.pk, ids["attachment"]])
    assert client.get(download).status_code == 200
    assert client.get(reverse("portal:case", args=[case.pk])).status_code == 200

    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    for method, url in requests_for(ids):
        assert send(client, method, url).status_code in (404, 405), url
    assert client.get(download).status_code == 404
    assert case.number not in client.get("/portal/").content.decode()


def test_a_deactivated_agent_is_sent_to_sign_in_even_with_an_old_download_link(
    client, shared_case, partner_agent
):
    case, ids = shared_case
    client.force_login(partner_agent)
    download = reverse("portal:attachment_download", args=[case.pk, ids["attachment"]])
    partner_agent.is_active = False
    partner_agent.save()
    assert client.get(download)["Location"].startswith("/portal/login/")


# Downloads ---------------------------------------------------------------------------------


def test_a_shared_attachment_downloads_with_safe_headers(client, partner_agent, caseworker):
    case, _ = refer(partner_agent)
    attachment = services.attachment_add(
        actor=caseworker,
        case=case,
        upload=upload('lease "final"; v2.txt', b"Signed lease."),
        shared_with_partners=True,
    )
    client.force_login(partner_agent)
    response = client.get(reverse("portal:attachment_download", args=[case.pk, attachment.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"Signed lease."
    assert response["Content-Disposition"].startswith("attachment;")
    assert '"final"' not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert case.events.filter(verb=CaseEvent.Verb.DOWNLOADED, actor=partner_agent).exists()


def test_attachments_need_the_attachments_tab_even_with_the_right_id(
    client, partner_agent, caseworker
):
    case, _ = refer(partner_agent, tabs=["notes"])
    add_records(case, actor=caseworker, shared=True)
    client.force_login(partner_agent)
    attachment = case.attachments.get()
    url = reverse("portal:attachment_download", args=[case.pk, attachment.pk])
    assert client.get(url).status_code == 404


def test_an_internal_attachment_is_404_even_with_the_right_id(client, partner_agent, caseworker):
    case, _ = refer(partner_agent)
    add_records(case, actor=caseworker, shared=False)
    client.force_login(partner_agent)
    url = reverse("portal:attachment_download", args=[case.pk, case.attachments.get().pk])
    assert client.get(url).status_code == 404


def test_stored_files_have_no_public_url(client, partner_agent, caseworker, private_storage):
    case, _ = refer(partner_agent)
    add_records(case, actor=caseworker, shared=True)
    name = Attachment.objects.get().file.name
    client.force_login(partner_agent)
    for guess in (f"/media/{name}", f"/{name}", f"/portal/{name}", f"/static/{name}"):
        assert client.get(guess).status_code == 404, guess


# Sentinels ---------------------------------------------------------------------------------

SENTINEL = "SNTL"  # every internal value below carries it, or one of these
# Income and date of birth as a page could write them; never bare digits, which turn up by
# chance in times (microseconds) and tokens.
SENTINEL_VALUES = ("73519.87", "73,519.87", "11, 1911", "1911-11-11", "11/11/1911")


@pytest.fixture
def planted(partner_agent, outsider, caseworker, agency_manager, northside):
    """PA's case with sentinels in every internal field and in an unshared record of every
    kind, next to shared records; a case in the intake queue of PA's organization with
    sentinels in every internal field; and another organization's case full of sentinels."""
    case, member = refer(
        partner_agent,
        name="Household of PA",
        household_income=Decimal("73519.87"),
        applicant_identifier="SNTL-IDENTIFIER",
        date_of_birth=date(1911, 11, 11),
        eligibility_notes="SNTL-ELIGIBILITY-NOTES",
    )
    add_records(case, actor=caseworker, shared=True, prefix="Shared")
    services.record_add(
        actor=caseworker, case=case, kind="notes", body="SNTL-NOTE", shared_with_partners=False
    )
    services.record_add(
        actor=caseworker,
        case=case,
        kind="activities",
        subject="SNTL-ACTIVITY",
        description="SNTL-ACTIVITY-TEXT",
        shared_with_partners=False,
    )
    internal_request = services.record_add(
        actor=caseworker,
        case=case,
        kind="servicerequests",
        title="SNTL-REQUEST",
        description="SNTL-REQUEST-TEXT",
        shared_with_partners=False,
    )
    services.attachment_add(
        actor=caseworker,
        case=case,
        upload=upload("sntl-file.txt", b"SNTL-FILE-CONTENT"),
        description="SNTL-FILE",
        shared_with_partners=False,
    )
    waiting = make_case(
        status=Case.Status.THIRD_PARTY,
        name="Intake household",
        household_income=Decimal("73519.87"),
        applicant_identifier="SNTL-INTAKE-IDENTIFIER",
        date_of_birth=date(1911, 11, 11),
        eligibility_notes="SNTL-INTAKE-NOTES",
    )
    record_consent(waiting, northside, actor=agency_manager)
    services.referral_to_organization(actor=agency_manager, case=waiting, organization=northside)
    refer(
        outsider,
        name="SNTL-OTHER-CASE",
        summary="SNTL-OTHER-SUMMARY",
        applicant_name="SNTL-OTHER-APPLICANT",
    )
    return case, member, internal_request.number


def assert_clean(response, extra=()):
    body = response.content if not response.streaming else b"".join(response.streaming_content)
    text = body.decode(errors="replace") + "".join(f"{k}: {v}" for k, v in response.items())
    assert SENTINEL not in text.upper(), response.request["PATH_INFO"]
    for value in (*SENTINEL_VALUES, *extra):
        assert value not in text, (value, response.request["PATH_INFO"])


def test_sentinels_never_appear_in_any_portal_response(
    client, planted, partner_agent, partner_manager
):
    case, _, internal_number = planted
    extra = (internal_number,)
    urls = [
        "/portal/",
        "/portal/?new=on",
        "/portal/?state=pending&sort=-name",
        "/portal/?program=SNAP&sort=program",
        "/portal/?q=Household",
        reverse("portal:case", args=[case.pk]),
    ]
    for tab in ALL_TABS:
        urls.append(reverse("portal:case_tab", args=[case.pk, tab]))
    for user in (partner_agent, partner_manager):
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert_clean(response, extra)
            if "/cases/" in url:
                assert_clean(client.get(url, headers=HTMX), extra)
        for attachment in case.attachments.filter(shared_with_partners=True):
            url = reverse("portal:attachment_download", args=[case.pk, attachment.pk])
            response = client.get(url)
            assert response.status_code == 200
            assert_clean(response, extra)

    # The partner manager's intake queue and the case waiting in it.
    waiting = Case.objects.get(name="Intake household")
    for url in (reverse("portal:intake"), reverse("portal:case", args=[waiting.pk])):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_clean(response, extra)
    assert "Intake household" in client.get(reverse("portal:intake")).content.decode()

    client.force_login(partner_agent)
    # Pending: the decline form with its errors, and an action the state forbids (409).
    declined = client.post(reverse("portal:decline", args=[case.pk]), {})
    assert declined.status_code == 400
    assert_clean(declined, extra)
    complete = reverse("portal:referral_action", args=[case.pk, "complete"])
    too_early = client.post(complete, {"outcome": "served", "note": "Done."})
    assert too_early.status_code == 409
    assert_clean(too_early, extra)
    client.post(reverse("portal:accept", args=[case.pk]))
    conflict = client.post(reverse("portal:accept", args=[case.pk]))
    assert conflict.status_code == 409
    assert_clean(conflict, extra)
    # Accepted: records, the page with a form's errors, the actions with theirs.
    add = reverse("portal:record_add", args=[case.pk, "notes"])
    added = client.post(add, {"body": "Called."}, headers=HTMX)
    assert added.status_code == 200
    assert_clean(added, extra)
    assert_clean(client.post(add, {"body": ""}), extra)  # the page with the form's errors
    incomplete = client.post(complete, {})
    assert incomplete.status_code == 400
    assert_clean(incomplete, extra)
    assert_clean(client.get(reverse("portal:case", args=[case.pk])), extra)
    internal = case.attachments.get(shared_with_partners=False)
    response = client.get(reverse("portal:attachment_download", args=[case.pk, internal.pk]))
    assert response.status_code == 404
    assert_clean(response, extra)
