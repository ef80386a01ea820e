"""SECURITY.md case 17: stored-XSS payloads in every user-editable text field render
escaped in the agency UI, the portal and the admin.

For each payload, one world is seeded through the services with the payload in every text
field a user can fill in (Case Name and the applicant fields, the partner organization's
name, the records' titles and texts, the attachment's description and file name, a
referral's decline note and completion note, people's first and last names, a routing
rule's name, the name of a case in a partner's intake queue, a user name tried at
sign-in; and the owner's Inbox items, whose text is made of such names). Each field's copy
carries the field's number, so a page shows which fields it rendered. Then every page that
shows them is fetched (agency pages with each tab, the live update, the Referrals board,
the Inbox and the routing pages; My Cases and the case page with its tabs, as an agent and
as a partner manager, and the partner manager's Intake page; the admin's Case changelist
and change form and the audit logs) and checked:

- the stored value, when it contains markup, never appears as such;
- no element has an event-handler attribute, no script holds an `alert(`, no link, source
  or form action starts with `javascript:` (parsed, not searched for);
- and each field's escaped form appears on at least one page of each place it belongs
  (the agency, the portal for what partners may see, the admin), so the test cannot pass
  by not rendering the field at all.
"""

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils.html import escape

from accounts.models import SecurityEvent
from cases import routing, services
from cases.models import Attachment, Case, CaseEvent, InboxItem, Referral
from cases.routing import services as routing_services
from tests.factories import PartnerAgentFactory, UserFactory, make_case, record_consent

PAYLOADS = {
    "script tag": '<script>alert("x{n}")</script>',
    "attribute breakout": '"><img src=x onerror=alert({n})>',
    "javascript URL": "javascript:alert({n})",
    "template injection": "{{{{7*7}}}}[{n}]",
    "textarea breakout": "</textarea><svg onload=alert({n})>",
}

A, P, D = "agency", "portal", "admin"


@dataclass(frozen=True)
class Field:
    label: str
    shown_in: tuple[str, ...]  # where its escaped form must appear at least once
    internal: bool = False  # never on a portal page, escaped or not


# Numbered from 1: the number goes into the payload (applicant phone holds 32 characters,
# so it is field 1).
FIELDS = (
    Field("Case: applicant phone", (A, P, D)),
    Field("Case: Case Name", (A, P, D)),
    Field("Case: applicant name", (A, P, D)),
    Field("Case: applicant email", (A, P, D)),
    Field("Case: region", (A, P, D)),
    Field("Case: summary", (A, P, D)),
    Field("Case: applicant identifier", (A, D), internal=True),
    Field("Case: eligibility notes", (A, D), internal=True),
    Field("Partner organization name", (A, D)),
    Field("Activity subject", (A, P, D)),
    Field("Activity description", (A, P)),
    Field("Service Request title", (A, P, D)),
    Field("Service Request description", (A, P)),
    Field("Note text", (A, P, D)),
    Field("Attachment description", (A, P)),
    Field("Attachment file name", (A, P, D)),
    Field("Note text, by the partner agent", (A, P, D)),
    Field("Activity subject, by the partner agent", (A, P, D)),
    Field("Decline note, by another agent", (A,), internal=True),
    Field("Partner agent's first name", (A, P, D)),
    Field("Partner agent's last name", (A, P, D)),
    Field("Caseworker's first name", (A, P, D)),
    Field("Caseworker's last name", (A, P, D)),
    Field("Routing rule name", (A, D), internal=True),
    Field("User name tried at sign-in", (D,), internal=True),
    Field("Outcome note, by another agent", (A,)),
    Field("Case Name, in the intake queue", (A, P)),
    # Made by the services from names above (who answered, and their organization).
    Field("Inbox item text, a decline", (A,), internal=True),
    Field("Inbox item text, a completion", (A,), internal=True),
)
NUMBER = {field.label: n for n, field in enumerate(FIELDS, start=1)}

TOTALS = {"payloads": 0, "fields": len(FIELDS), "pages": 0, "checks": 0}


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


# The seeded world ---------------------------------------------------------------------------


@dataclass
class XssWorld:
    values: dict[str, str]  # field label -> the value as stored
    urls: dict[str, list[str]]  # role -> the pages it opens
    clients: dict[str, Client]  # role -> its signed-in client


def _file_name(value: str) -> str:
    # An upload's name is cut at the last "/" (a path): keep the markup, drop the slashes.
    return value.replace("/", "") + ".txt"


def _query(text: str) -> str:
    return urlencode({"q": text})


def build(template: str, *, am, ag, pa, pb, pd, pm, adm, northside) -> XssWorld:
    def v(label: str) -> str:
        return template.format(n=NUMBER[label])

    northside.name = v("Partner organization name")
    northside.save()
    for user, who in ((pa, "Partner agent's"), (ag, "Caseworker's")):
        user.first_name = v(f"{who} first name")
        user.last_name = v(f"{who} last name")
        user.save()

    case = make_case(
        status=Case.Status.THIRD_PARTY,
        actor=am,
        owner=am,
        name=v("Case: Case Name"),
        applicant_name=v("Case: applicant name"),
        applicant_phone=v("Case: applicant phone"),
        applicant_email=v("Case: applicant email"),
        region=v("Case: region"),
        summary=v("Case: summary"),
        applicant_identifier=v("Case: applicant identifier"),
        eligibility_notes=v("Case: eligibility notes"),
    )
    tabs = ["activities", "attachments", "servicerequests", "notes"]
    record_consent(case, northside, actor=am)
    member = services.case_team_add(actor=am, case=case, user=pa, tabs=tabs)
    # Partners record work only on a referral they accepted.
    services.referral_accept(actor=pa, referral=member.referral)
    declined = services.case_team_add(actor=am, case=case, user=pb, tabs=tabs)
    services.referral_decline(
        actor=pb,
        referral=declined.referral,
        reason=Referral.DeclineReason.OTHER,
        note=v("Decline note, by another agent"),
    )
    completed = services.case_team_add(actor=am, case=case, user=pd, tabs=tabs)
    services.referral_accept(actor=pd, referral=completed.referral)
    services.referral_complete(
        actor=pd,
        referral=completed.referral,
        outcome=Referral.Outcome.SERVED,
        note=v("Outcome note, by another agent"),
    )
    shared = {"actor": ag, "case": case, "shared_with_partners": True}
    services.record_add(
        kind="activities",
        subject=v("Activity subject"),
        description=v("Activity description"),
        **shared,
    )
    services.record_add(
        kind="servicerequests",
        title=v("Service Request title"),
        description=v("Service Request description"),
        **shared,
    )
    services.record_add(kind="notes", body=v("Note text"), **shared)
    attachment = services.attachment_add(
        upload=SimpleUploadedFile(
            _file_name(v("Attachment file name")), b"A letter", content_type="text/plain"
        ),
        description=v("Attachment description"),
        **shared,
    )
    by_partner = {"actor": pa, "case": case}
    services.record_add(kind="notes", body=v("Note text, by the partner agent"), **by_partner)
    services.record_add(
        kind="activities", subject=v("Activity subject, by the partner agent"), **by_partner
    )

    rule = routing_services.assignment_rule_create(
        actor=am, name=v("Routing rule name"), organizations=[northside]
    )
    routed = make_case(status=Case.Status.THIRD_PARTY, actor=am, owner=am, name="Routed household")
    record_consent(routed, northside, actor=am)
    routing.case_route(actor=am, case=routed)
    intake = make_case(
        status=Case.Status.THIRD_PARTY,
        actor=am,
        owner=am,
        name=v("Case Name, in the intake queue"),
    )
    record_consent(intake, northside, actor=am)
    services.referral_to_organization(actor=am, case=intake, organization=northside)

    Client().post("/login/", {"username": v("User name tried at sign-in"), "password": "nope"})
    failed_sign_in = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SIGN_IN_FAILED)

    values = {label: v(label) for label in NUMBER}
    values["Attachment file name"] = Attachment.objects.get(pk=attachment.pk).original_name
    for kind, label in (
        (InboxItem.Kind.DECLINED, "Inbox item text, a decline"),
        (InboxItem.Kind.COMPLETED, "Inbox item text, a completion"),
    ):
        values[label] = InboxItem.objects.get(user=am, case=case, kind=kind).text

    declined_event = CaseEvent.objects.get(case=case, verb=CaseEvent.Verb.DECLINED)
    note_event = CaseEvent.objects.filter(case=case, verb=CaseEvent.Verb.RECORD_ADDED).first()
    c = f"/cases/{case.pk}"
    p = f"/portal/cases/{case.pk}"
    urls = {
        "AM": [
            "/cases/",
            "/cases/?" + _query(v("Case: Case Name")),
            f"{c}/",
            f"{c}/edit/",
            *(f"{c}/{tab}/" for tab in ("partners", "team", *tabs, "history")),
            f"{c}/partners/?add=1",
            f"{c}/partners/options/",
            *(f"{c}/live/?after=0&tab={tab}" for tab in ("notes", "team", "history")),
            "/cases/referrals/",
            "/cases/inbox/",
            "/cases/routing/",
            f"/cases/routing/{rule.pk}/edit/",
            f"/cases/routing/{rule.pk}/dry-run/",
            f"/cases/{routed.pk}/team/",
        ],
        "PA": [
            "/portal/",
            "/portal/?" + _query(v("Case: Case Name")),
            f"{p}/",
            *(f"{p}/{tab}/" for tab in tabs),
        ],
        "PM": ["/portal/", f"{p}/", "/portal/intake/"],
        "ADM": [
            "/admin/cases/case/",
            "/admin/cases/case/?" + _query(v("Case: Case Name")),
            f"/admin/cases/case/{case.pk}/change/",
            "/admin/cases/caseevent/",
            f"/admin/cases/caseevent/{declined_event.pk}/change/",
            f"/admin/cases/caseevent/{note_event.pk}/change/",
            "/admin/accounts/securityevent/",
            f"/admin/accounts/securityevent/{failed_sign_in.pk}/change/",
            "/admin/partners/partnerorganization/",
            "/admin/cases/assignmentrule/",
            "/admin/auth/user/",
        ],
    }
    clients = {}
    for role, user in (("AM", am), ("PA", pa), ("PM", pm), ("ADM", adm)):
        clients[role] = Client()
        clients[role].force_login(user)
    return XssWorld(values=values, urls=urls, clients=clients)


SURFACE = {"AM": A, "PA": P, "PM": P, "ADM": D}


# What a page must not contain --------------------------------------------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}


class _ActiveContent(HTMLParser):
    """Collects what a browser would run: event-handler attributes, `javascript:` URLs and
    scripts that call alert()."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            elif name in URL_ATTRIBUTES and re.sub(r"\s", "", value).startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "alert(" in data:
            self.found.append(f"<script>{data.strip()[:40]}</script>")


def active_content(html: str) -> list[str]:
    parser = _ActiveContent()
    parser.feed(html)
    parser.close()
    return parser.found


def unescaped(values: dict[str, str], html: str) -> list[str]:
    """Fields whose stored value, containing markup, appears as it is (not escaped)."""
    return [
        label
        for label, value in values.items()
        if any(c in value for c in "<>\"'") and value in html
    ]


def test_the_checks_catch_an_unescaped_payload():
    values = {"f": '"><img src=x onerror=alert(1)>'}
    assert unescaped(values, '<input value="x"><img src=x onerror=alert(1)>">') == ["f"]
    assert unescaped(values, f'<input value="{escape(values["f"])}">') == []
    assert active_content("<p><img src=x onerror=alert(1)></p>") == ["<img onerror=...>"]
    assert active_content("<svg onload=alert(1)>") == ["<svg onload=...>"]
    assert active_content('<a href=" javascript:alert(1)">x</a>') != []
    assert active_content('<script>alert("x")</script>') != []
    assert (
        active_content(f"<textarea>{escape('</textarea><svg onload=alert(1)>')}</textarea>") == []
    )


# The test -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("payload", PAYLOADS)
def test_stored_payloads_render_escaped_in_the_agency_ui_the_portal_and_the_admin(
    payload,
    agency_manager,
    caseworker,
    partner_agent,
    partner_colleague,
    partner_manager,
    admin_user,
    northside,
):
    # A third agent of PA's organization, who completes a referral of the case.
    pd = PartnerAgentFactory(user=UserFactory(username="pd"), organization=northside).user
    world = build(
        PAYLOADS[payload],
        am=agency_manager,
        ag=caseworker,
        pa=partner_agent,
        pb=partner_colleague,
        pd=pd,
        pm=partner_manager,
        adm=admin_user,
        northside=northside,
    )
    TOTALS["payloads"] += 1
    problems: list[str] = []
    seen: dict[str, set[str]] = {label: set() for label in world.values}
    for role, urls in world.urls.items():
        for url in urls:
            response = world.clients[role].get(url)
            TOTALS["pages"] += 1
            TOTALS["checks"] += len(world.values)
            if response.status_code != 200:
                problems.append(f"{role} {url}: {response.status_code}")
                continue
            html = response.content.decode()
            for label in unescaped(world.values, html):
                problems.append(f"{role} {url}: {label} unescaped")
            for what in active_content(html):
                problems.append(f"{role} {url}: active content {what}")
            for label, value in world.values.items():
                if escape(value) in html:
                    seen[label].add(SURFACE[role])
    for field in FIELDS:
        missing = set(field.shown_in) - seen[field.label]
        if missing:
            problems.append(f"{field.label}: its escaped form is on no page of {sorted(missing)}")
        if field.internal and P in seen[field.label]:
            problems.append(f"{field.label}: internal, yet on a portal page")
    assert problems == [], f"{payload}: " + "; ".join(problems)


def test_stored_xss_totals(capsys):
    """Prints how many payloads x fields x pages were tried (run with -s, or see the log)."""
    with capsys.disabled():
        print(
            f"\nstored XSS: {len(PAYLOADS)} payloads x {len(FIELDS)} fields; this run: "
            f"{TOTALS['payloads']} payloads x {TOTALS['fields']} fields x "
            f"{TOTALS['pages'] // max(TOTALS['payloads'], 1)} pages = {TOTALS['checks']} "
            "payloads tried"
        )
    assert len(PAYLOADS) * len(FIELDS) >= 100
