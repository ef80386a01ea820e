"""SECURITY.md case 22: a double-submitted form has one effect.

Each test does what a browser does on a double click or a reload that posts again: it
opens the page, takes the form's hidden fields (CSRF token, one-time form token) and posts
the same form twice. The second post must leave one record and one event, and answer with a
clear message or a redirect, never a server error.

Forms that are idempotent by nature (add a partner, add a case team member, a transition,
accepting or declining a referral) refuse the second post on the state it finds. Forms that
create a record (New Case, the agency's and the portal's add forms) carry a one-time token
(accounts/form_tokens.py); the last test checks, on PostgreSQL with real threads, that of
two submissions in flight at once exactly one opens a case.
"""

import re
import threading
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from cases.models import Activity, Attachment, Case, CaseEvent, CasePartner, Note, Referral
from cases.records import KINDS
from tests.factories import ProgramFactory, make_case, make_referral, record_consent

Verb = CaseEvent.Verb
Status = Case.Status


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }


@pytest.fixture(autouse=True)
def no_routing_or_mail_side_effects(monkeypatch):
    monkeypatch.setattr("cases.routing.hooks.route_after_refer", lambda **kwargs: None)


class _HiddenFields(HTMLParser):
    """The hidden inputs of every form of a page, by the URL the form posts to."""

    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._current = self.forms.setdefault(attrs.get("action") or self.page_url, {})
        elif tag == "input" and self._current is not None and attrs.get("type") == "hidden":
            self._current[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def browser(user) -> Client:
    """A signed-in client that, like a browser, must send the CSRF token it was given."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def form_on(client, page_url: str, action: str) -> dict[str, str]:
    page = client.get(page_url)
    assert page.status_code == 200, f"{page_url}: {page.status_code}"
    parser = _HiddenFields(page_url)
    parser.feed(page.content.decode())
    assert action in parser.forms, f"no form posting to {action} on {page_url}"
    return parser.forms[action]


def submit_twice(client, page_url: str, action: str, data: dict | None = None, **extra):
    """Post the form of `page_url` that posts to `action` twice, with the same fields.
    `data` may be a callable, for fresh file objects on each post."""
    hidden = form_on(client, page_url, action)
    answers = []
    for _ in range(2):
        fields = data() if callable(data) else dict(data or {})
        answers.append(client.post(action, {**hidden, **fields}, **extra))
    return answers


def shown(client, response) -> str:
    """What the user reads after the answer: the page, or the page it redirects to."""
    if response.status_code == 302:
        response = client.get(response["Location"])
    return response.content.decode()


def events(case, verb) -> int:
    return CaseEvent.objects.filter(case=case, verb=verb).count()


# Idempotent by nature --------------------------------------------------------------------------


@pytest.mark.django_db
def test_adding_a_partner_twice_associates_it_once(agency_manager, harbor):
    case = make_case(status=Status.APPROVED)
    client = browser(agency_manager)
    action = f"/cases/{case.pk}/partners/add/"
    first, second = submit_twice(
        client, f"/cases/{case.pk}/partners/?add=1", action, {"partner": harbor.pk}
    )
    assert first.status_code == 302
    assert CasePartner.objects.filter(case=case).count() == 1
    assert events(case, Verb.PARTNER_ADDED) == 1
    assert second.status_code == 200
    assert "Choose an active partner not yet on this case." in second.content.decode()


@pytest.mark.django_db
def test_adding_a_case_team_member_twice_adds_them_once(agency_manager, partner_agent):
    case = make_case(status=Status.THIRD_PARTY)
    record_consent(case, partner_agent.partner_agent.organization)
    client = browser(agency_manager)
    action = f"/cases/{case.pk}/team/add/"
    first, second = submit_twice(
        client, f"/cases/{case.pk}/team/", action, {"user": partner_agent.pk, "tabs": ["notes"]}
    )
    assert first.status_code == 302
    assert case.team.filter(user=partner_agent).count() == 1
    assert events(case, Verb.TEAM_ADDED) == 1
    assert second.status_code == 200
    html = second.content.decode()
    assert "Choose a person who is not on the Case Team yet." in html
    assert "is not one of the available choices" not in html


@pytest.mark.django_db
def test_accepting_a_referral_twice_accepts_it_once(partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    client = browser(partner_agent)
    action = f"/portal/cases/{case.pk}/accept/"
    first, second = submit_twice(client, f"/portal/cases/{case.pk}/", action)
    assert first.status_code == 302
    assert events(case, Verb.ACCEPTED) == 1
    member.refresh_from_db()
    assert member.referral.state == member.referral_state == Referral.State.ACCEPTED
    assert second.status_code == 409
    assert "it is now Accepted. Your answer was not recorded." in second.content.decode()


@pytest.mark.django_db
def test_declining_a_referral_twice_declines_it_once(partner_agent):
    """After the first answer the case has left the agent's My Cases: the second post is
    the 404 of a case that is not the agent's (SECURITY.md: not yours is 404)."""
    case, _ = make_referral(agent_user=partner_agent)
    client = browser(partner_agent)
    action = f"/portal/cases/{case.pk}/decline/"
    first, second = submit_twice(
        client, f"/portal/cases/{case.pk}/", action, {"reason": "no_capacity", "note": "Full"}
    )
    assert first.status_code == 302 and first["Location"] == "/portal/"
    assert events(case, Verb.DECLINED) == 1
    assert second.status_code == 404


@pytest.mark.django_db
def test_approving_twice_approves_once_and_says_why_the_second_was_not_done(agency_manager):
    case = make_case(status=Status.OPEN)
    client = browser(agency_manager)
    action = f"/cases/{case.pk}/transition/approve/"
    first, second = submit_twice(client, f"/cases/{case.pk}/", action)
    assert first.status_code == second.status_code == 302
    assert events(case, Verb.TRANSITION) == 1
    case.refresh_from_db()
    assert case.status == Status.APPROVED
    assert "“Approve” was not done: The case is Approved." in shown(client, second)


# Forms that create a record: the one-time form token --------------------------------------------


def new_case_fields(program, owner) -> dict:
    return {
        "name": "Household of Okafor",
        "program": program.pk,
        "owner": owner.pk,
        "priority": "normal",
        "language": "en",
        "applicant_name": "Ada Okafor",
    }


@pytest.mark.django_db
def test_new_case_submitted_twice_opens_one_case_and_the_second_goes_to_it(agency_manager):
    program = ProgramFactory(code="SNAP")
    client = browser(agency_manager)
    first, second = submit_twice(
        client, "/cases/new/", "/cases/new/", new_case_fields(program, agency_manager)
    )
    case = Case.objects.get()
    assert events(case, Verb.CREATED) == 1
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/cases/{case.pk}/"
    assert "This form was already submitted: the case was opened once." in shown(client, second)


@pytest.mark.django_db
def test_two_new_case_forms_open_two_cases(agency_manager):
    """The token dedupes one rendering of the form, not two cases that look alike."""
    program = ProgramFactory(code="SNAP")
    client = browser(agency_manager)
    for _ in range(2):
        hidden = form_on(client, "/cases/new/", "/cases/new/")
        client.post("/cases/new/", {**hidden, **new_case_fields(program, agency_manager)})
    assert Case.objects.count() == 2


@pytest.mark.django_db
def test_a_new_case_form_with_errors_can_be_corrected_and_sent(agency_manager):
    program = ProgramFactory(code="SNAP")
    client = browser(agency_manager)
    hidden = form_on(client, "/cases/new/", "/cases/new/")
    fields = new_case_fields(program, agency_manager)
    invalid = client.post("/cases/new/", {**hidden, **fields, "name": ""})
    assert invalid.status_code == 200 and Case.objects.count() == 0
    # The corrected form, as the browser sends it: the page it got back, with its token.
    parser = _HiddenFields("/cases/new/")
    parser.feed(invalid.content.decode())
    corrected = client.post("/cases/new/", {**parser.forms["/cases/new/"], **fields})
    assert corrected.status_code == 302 and Case.objects.count() == 1


def record_fields(kind: str):
    def fields():
        if kind == "attachments":
            upload = SimpleUploadedFile("letter.txt", b"Signed letter", content_type="text/plain")
            return {"file": upload, "description": "Signed letter"}
        if kind == "activities":
            return {"type": "call", "subject": "Called the applicant", "status": "done"}
        if kind == "servicerequests":
            return {"title": "Rent arrears letter", "status": "open", "priority": "normal"}
        return {"body": "Called the applicant."}

    return fields


RECORD_MODELS = {"activities": Activity, "attachments": Attachment, "notes": Note}


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("kind", ["activities", "attachments", "notes"])
def test_a_record_posted_twice_in_the_portal_is_added_once(partner_agent, kind, htmx):
    # Partners record work only on a referral they accepted.
    case, _ = make_referral(
        agent_user=partner_agent, tabs=["activities", "attachments", "notes"], accepted=True
    )
    client = browser(partner_agent)
    action = f"/portal/cases/{case.pk}/{kind}/add/"
    headers = {"headers": {"HX-Request": "true"}} if htmx else {}
    first, second = submit_twice(
        client, f"/portal/cases/{case.pk}/{kind}/", action, record_fields(kind), **headers
    )
    assert RECORD_MODELS[kind].objects.filter(case=case).count() == 1
    assert events(case, Verb.RECORD_ADDED) == 1
    assert first.status_code == second.status_code == (200 if htmx else 302)
    assert re.search(r"This \w+ was already saved: it was added once\.", shown(client, second))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["activities", "attachments", "servicerequests", "notes"])
def test_a_record_posted_twice_by_the_agency_is_added_once(agency_manager, kind):
    case = make_case(status=Status.APPROVED)
    client = browser(agency_manager)
    action = f"/cases/{case.pk}/{kind}/add/"
    first, second = submit_twice(client, f"/cases/{case.pk}/{kind}/", action, record_fields(kind))
    model = KINDS[kind].model
    assert model.objects.filter(case=case).count() == 1
    assert events(case, Verb.RECORD_ADDED) == 1
    assert first.status_code == second.status_code == 302
    assert "This form was already submitted" in shown(client, second)


# Two submissions in flight at once (PostgreSQL, real threads) ------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_new_case_posts_in_flight_at_once_exactly_one_opens_a_case(agency_manager):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: row locks and truly concurrent transactions "
            f"(this run uses {connection.vendor}, which serializes every writer)"
        )
    program = ProgramFactory(code="SNAP")
    client = browser(agency_manager)
    hidden = form_on(client, "/cases/new/", "/cases/new/")
    fields = {**hidden, **new_case_fields(program, agency_manager)}
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def submit(index):
        twin = Client(enforce_csrf_checks=True)
        twin.cookies = client.cookies  # the same browser: one session, one CSRF cookie
        try:
            connection.ensure_connection()
            barrier.wait(timeout=20)
            answers[index] = twin.post("/cases/new/", fields).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [302, 302]
    assert Case.objects.count() == 1
    assert CaseEvent.objects.filter(verb=Verb.CREATED).count() == 1
