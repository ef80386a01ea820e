"""Load the Caseworks demo data: programs, partner organizations, the demo logins, the
Assignment Manager's demo rules and about sixty cases in every status, each built through
the services exactly as the agency and the partners would build it. The data (people,
organizations, topics, texts, how many cases of each story) is demo/data.toml; what happens
in each story is the code below.

Idempotent: programs, organizations, users and cases are found by stable keys (program
code, organization name, user name, case number); what exists is left alone, so a second
run creates nothing. The data comes from a fixed random seed, so it is the same every time.

The cases get a believable history (created weeks ago, approved days later, referred,
accepted...) by running the services on a demo clock (`casesite.clock.on`): every stamp the
services and the models write comes from it while the cases are built. The task queue is
off while loading: the demo's past sends no mail, and each story picks its partner agents
itself instead of routing.
"""

import random
import time
import unicodedata
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from cases import access, routing, services
from cases.models import AssignmentRule, Case, CaseEvent, CaseTeamMember, Consent, Referral
from cases.records import Tab
from cases.roles import sync_roles
from cases.routing.services import assignment_rule_create
from casesite import clock as casesite_clock
from demo.data import Login, Topic, demo_data
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import partner_agent_save

D = demo_data()
Kind = PartnerOrganization.Kind
State = Referral.State
Decline = Referral.DeclineReason
Outcome = Referral.Outcome
Status = Case.Status
ALL_TABS = list(Tab.values)


@dataclass
class Household:
    first: str
    last: str
    language: str
    region: str
    size: int
    kids: int
    income: Decimal
    identifier: str
    born: date
    phone: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Story:
    """One demo case: what happened to it, and when it started."""

    kind: str
    programs: list[str]
    days_ago: float
    agent: str = ""
    options: dict = field(default_factory=dict)
    # Chosen by the plan:
    number: str = ""
    program: str = ""
    topic: Topic | None = None
    household: Household | None = None


class DemoClock:
    """The clock the cases are built on: every service call stamps the demo time, which only
    moves forward and never passes the real time."""

    def __init__(self, real_now: datetime):
        self.real_now = real_now
        self.current = real_now
        self.last_start: datetime | None = None

    def start(self, days_ago: float, minute: int = 0) -> None:
        """Start a case's history `days_ago` days back, on a weekday morning (local time),
        after the previous case's start: case numbers follow the order cases were opened."""
        day = timezone.localtime(self.real_now - timedelta(days=days_ago))
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        start = day.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(minutes=minute)
        if self.last_start is not None and start <= self.last_start:
            start = self.last_start + timedelta(minutes=3 + minute % 20)
        self.current = self.last_start = min(start, self.real_now - timedelta(hours=1))

    def advance(self, hours: float = 1.0) -> None:
        """Move on by `hours`, to office hours on a weekday (people do not work at night)."""
        moment = timezone.localtime(self.current + timedelta(hours=hours))
        if moment.hour >= 17:
            moment = (moment + timedelta(days=1)).replace(hour=8, minute=moment.minute)
        elif moment.hour < 8:
            moment = moment.replace(hour=8)
        while moment.weekday() >= 5:
            moment += timedelta(days=1)
        self.current = max(self.current, min(moment, self.real_now - timedelta(seconds=1)))

    def now(self) -> datetime:
        self.current += timedelta(seconds=7)  # distinct, ordered stamps for every write
        return min(self.current, self.real_now)

    def date_in(self, days: int) -> str:
        return (self.current + timedelta(days=days)).strftime("%B %-d")


# While the demo's past is written its emails go nowhere: they are history, not news.
NO_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@contextmanager
def quiet_services(clock: DemoClock):
    """Run the services on the demo clock (the task queue is switched off by `handle`: no
    emails of the demo's past, no re-routing). Demo cases are referred without automatic
    routing: each story picks its agent."""
    with casesite_clock.on(clock.now):
        yield


def pdf_document(title: str, lines: list[str]) -> bytes:
    """A small, valid one-page PDF with a title and a few lines of text."""

    def escape(text: str) -> str:
        text = text.encode("latin-1", "replace").decode("latin-1")
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 16 Tf", "72 730 Td", f"({escape(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        ops += ["0 -20 Td", f"({escape(line)}) Tj"]
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def ascii_email(household: Household) -> str:
    local = f"{household.first.split()[0]}.{household.last}".lower()
    local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
    return f"{local}@example.com"


def text_document(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


class Command(BaseCommand):
    help = "Load the Caseworks demo data (idempotent): logins, partners and about 60 cases."

    def handle(self, *args, **options):
        started = time.monotonic()
        # The queue stays off until the demo's transaction has committed: the emails its
        # services leave for the commit go nowhere too.
        with override_settings(TASKS=NO_TASKS), transaction.atomic():
            sync_roles()
            self.programs = {
                code: services.program_get_or_create(code=code, name=name)
                for code, name in D.programs
            }
            self.orgs = self._organizations()
            self.users, new_users = self._users()
            self.agent_orgs = {
                agent.user.username: agent.organization
                for agent in PartnerAgent.objects.select_related("user", "organization")
            }
            stories = self._plan()
            existing = set(
                Case.objects.filter(number__in=[s.number for s in stories]).values_list(
                    "number", flat=True
                )
            )
            self.clock = DemoClock(timezone.now())
            self.expiring_done = self.sensitive_done = self.withdrawn_done = False
            new_cases = 0
            with quiet_services(self.clock):
                for story in stories:
                    if story.number in existing:
                        continue
                    # One generator per case: the same case gets the same data whatever
                    # else already exists.
                    self.rng = random.Random(f"{D.seed}-{story.number}")  # noqa: S311  (demo data)
                    self.clock.start(story.days_ago, minute=self.rng.randint(0, 150))
                    getattr(self, f"_story_{story.kind}")(story, story.household)
                    new_cases += 1
            # The Assignment Manager's demo rules (idempotent: by rule name), after the cases.
            new_rules = load_demo_rules()
        self._report(new_users, new_cases, new_rules, time.monotonic() - started)

    # Directory and logins ------------------------------------------------------------------

    def _organizations(self) -> dict[str, PartnerOrganization]:
        orgs = {}
        for spec in D.organizations:
            values = {k: v for k, v in spec.items() if k != "name"}
            org, created = PartnerOrganization.objects.get_or_create(
                name=spec["name"], defaults=values
            )
            stale = [k for k, v in values.items() if getattr(org, k) != v]
            if stale and not created:  # an older demo database: bring it up to date
                for key in stale:
                    setattr(org, key, values[key])
                org.save(update_fields=stale)
            orgs[org.name] = org
        return orgs

    def _users(self):
        User = get_user_model()
        hashed = make_password(D.password)  # hashed once: the demo loads in seconds
        users, created_count = {}, 0
        login: Login
        for login in (*D.logins, *D.directory_agents):
            username = login.username
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": login.first_name,
                    "last_name": login.last_name,
                    "email": f"{username}@caseworks.example",
                    "is_staff": username == "admin",
                    "is_superuser": username == "admin",
                    "password": hashed if login.can_sign_in else make_password(None),
                },
            )
            created_count += created
            agency_role = login.agency_role
            if agency_role and not user.groups.filter(name=agency_role).exists():
                user.groups.add(Group.objects.get(name=agency_role))
            if login.organization:
                org_name, role = login.organization, login.partner_role
                languages, programs = list(login.languages), list(login.programs)
                agent = PartnerAgent.objects.filter(user=user).first()
                wanted = (self.orgs[org_name].pk, role, languages, programs)
                if (
                    agent is None
                    or (
                        agent.organization_id,
                        agent.role,
                        agent.languages,
                        agent.programs,
                    )
                    != wanted
                ):
                    partner_agent_save(
                        user=user,
                        organization=self.orgs[org_name],
                        role=role,
                        languages=languages,
                        programs=programs,
                    )
            users[username] = user
        return users, created_count

    # The plan: which cases, in which order ------------------------------------------------

    def _plan(self) -> list[Story]:
        """Every demo case, oldest first, with its program, topic and household: the same on
        every run, whatever already exists."""
        rng = random.Random(D.seed)  # noqa: S311  (demo data, not secrets)
        sets = {
            "all": list(D.topics),
            "legal": [p for p, topics in D.topics.items() if any(t.legal for t in topics)],
        }
        stories: list[Story] = []
        for entry in D.plan:
            programs = sets[entry.programs] if isinstance(entry.programs, str) else entry.programs
            options = {"tabs": entry.tabs} if entry.tabs else {}
            if not entry.work:
                options["work"] = False
            if entry.consent:
                options["consent"] = entry.consent
            for _ in range(entry.count):
                stories.append(
                    Story(
                        kind=entry.kind,
                        programs=list(programs),
                        days_ago=rng.uniform(*entry.days_ago),
                        agent=entry.agent,
                        options=options,
                    )
                )

        stories.sort(key=lambda s: -s.days_ago)
        used: Counter = Counter()
        names: set[tuple[str, str]] = set()

        def least_used(options):
            # Spread the cases over programs and topics instead of repeating a few.
            choice = min(options, key=lambda o: (used[o], rng.random()))
            used[choice] += 1
            return choice

        for sequence, story in enumerate(stories, start=1):
            story.number = f"CASE-{D.case_year}-{sequence:06d}"
            org = self._org_of(story.agent)
            story.program = least_used(story.programs)
            topics = D.topics[story.program]
            if org is not None:
                # Law firms take the legal matters, the others the rest.
                lawyer = org.kind == Kind.LAW_FIRM
                topics = [t for t in topics if t.legal == lawyer] or topics
            story.topic = least_used(topics)
            story.household = self._household(rng, org, names)
        return stories

    @staticmethod
    def _household(rng: random.Random, org, names: set) -> Household:
        languages = org.languages if org else ["en", "en", "en", "es", "es", "vi", "zh", "ar"]
        regions = org.service_areas if org else D.regions
        language = rng.choice(languages)
        firsts, lasts = D.names[language]
        first, last = rng.choice(firsts), rng.choice(lasts)
        for _ in range(20):
            if (first, last) not in names:
                break
            first, last = rng.choice(firsts), rng.choice(lasts)
        names.add((first, last))
        size = rng.randint(1, 6)
        kids = max(0, size - rng.randint(1, 2))
        return Household(
            first=first,
            last=last,
            language=language,
            region=rng.choice(regions),
            size=size,
            kids=kids,
            income=Decimal(rng.randrange(0, 3400, 5)).quantize(Decimal("0.01")),
            identifier=f"XXX-XX-{rng.randint(1000, 9999)}",
            born=date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55)),
            phone=f"(555) 01{rng.randint(0, 9)}-{rng.randint(1000, 9999)}",
        )

    def _org_of(self, username: str) -> PartnerOrganization | None:
        return self.agent_orgs[username] if username else None

    # Building blocks ---------------------------------------------------------------------

    @property
    def manager(self):
        return self.users["manager"]

    @property
    def caseworker(self):
        return self.users["caseworker"]

    def _create(self, story: Story, household: Household, owner=None) -> Case:
        topic, summary = story.topic.topic, story.topic.summary
        drawn = self.manager if self.rng.random() < 0.4 else self.caseworker
        owner = owner or drawn
        priority = self.rng.choice(
            [Case.Priority.NORMAL] * 4 + [Case.Priority.HIGH] * 2 + [Case.Priority.LOW]
        )
        if topic in D.urgent_topics:
            priority = Case.Priority.URGENT
        kids = max(household.kids, 1)
        case = services.case_create(
            actor=owner,
            owner=owner,
            number=story.number,
            name=f"{household.last} Household: {topic}",
            program=self.programs[story.program],
            applicant_name=household.name,
            applicant_phone=household.phone,
            applicant_email=ascii_email(household),
            region=household.region,
            language=household.language,
            priority=priority,
            summary=summary.format(n=household.size, kids=kids),
            household_income=household.income,
            applicant_identifier=household.identifier,
            date_of_birth=household.born,
            eligibility_notes=(
                f"Household of {household.size}; gross monthly income "
                f"${household.income:,.2f} verified from pay stubs and an employer letter. "
                f"Residency confirmed ({household.region})."
            ),
        )
        self.clock.advance(2)
        services.record_add(
            actor=self.caseworker,
            case=case,
            kind="activities",
            type="call",
            subject=f"Intake call with {household.name}",
            description="Reviewed the application and the documents still missing.",
            status="done",
        )
        return case

    def _approve(self, case: Case) -> Case:
        self.clock.advance(self.rng.uniform(20, 70))
        services.record_add(
            actor=self.manager,
            case=case,
            kind="notes",
            body=self.rng.choice(D.internal_notes),
        )
        return services.case_transition(actor=self.manager, case=case, name="approve")

    def _refer(
        self,
        case: Case,
        household: Household,
        agent: str,
        tabs=None,
        hours: int = D.response_window_hours,
    ) -> CaseTeamMember:
        """Refer to Third-Party, share what the partner needs, add the agent to the team
        with a response window of `hours` business hours."""
        self.clock.advance(self.rng.uniform(4, 30))
        case = services.case_transition(
            actor=self.manager, case=case, name="refer", auto_route=False
        )
        self._share_referral_packet(case, household)
        self._consent(case, self.agent_orgs[agent])
        self.clock.advance(0.2)
        return services.case_team_add(
            actor=self.manager, case=case, user=self.users[agent], tabs=tabs, response_hours=hours
        )

    # The client's consent: every referral of the demo rests on one.
    EVERY_TAB = ["details", *ALL_TABS]

    def _consent(
        self,
        case: Case,
        organization: PartnerOrganization | None = None,
        *,
        program=None,
        ends_on: date | None = None,
        sensitive: bool = False,
    ) -> Consent | None:
        """Record the client's consent for `organization` (or every partner of `program`),
        signed today for a year, unless one is in force already. `sensitive`: a signed
        form that also covers substance-use records (42 CFR Part 2)."""
        if (
            organization is not None
            and access.disclosure_of(case=case, organization=organization).open
            and not sensitive
        ):
            return None
        today = timezone.localdate(self.clock.now())
        data = [*self.EVERY_TAB, Consent.SUBSTANCE_USE] if sensitive else self.EVERY_TAB
        fields: dict = {"method": Consent.Method.ELECTRONIC}
        if sensitive:
            form = services.attachment_add(
                actor=self.caseworker,
                case=case,
                shared_with_partners=False,
                description="Signed consent to disclose, including substance-use records.",
                upload=ContentFile(
                    pdf_document(
                        "Consent to disclose information",
                        [
                            f"Client: {case.applicant_name}",
                            "I consent to the disclosure of my case, including records of my",
                            "substance-use treatment, to the partner named below, for legal",
                            "help with my benefits case. I may revoke this consent at any time.",
                        ],
                    ),
                    name="signed-consent.pdf",
                ),
            )
            fields = {
                "method": Consent.Method.SIGNED_FORM,
                "document": form,
                "information": "Dates of outpatient treatment and the provider's letter",
                "signed_on": today,
            }
        return services.consent_record(
            actor=self.caseworker,
            case=case,
            organization=organization,
            program=program,
            purpose="Legal help with the benefits case"
            if organization
            else "Referral to a partner of the program",
            data=data,
            starts_on=today,
            ends_on=ends_on or today + timedelta(days=365),
            **fields,
        )

    def _share_referral_packet(self, case: Case, household: Household) -> None:
        services.record_add(
            actor=self.manager,
            case=case,
            kind="notes",
            shared_with_partners=True,
            body=(
                f"Referral summary: {case.summary} {household.first} prefers to be reached "
                f"by phone at {household.phone}"
                + (
                    f" and speaks {D.language_names[household.language]} at home."
                    if household.language != "en"
                    else "."
                )
            ),
        )
        services.record_add(
            actor=self.caseworker,
            case=case,
            kind="servicerequests",
            shared_with_partners=True,
            title=self._service_request_title(case.program.code),
            description="Opened at referral; the partner updates it as the work progresses.",
            priority="high" if case.priority in ("high", "urgent") else "normal",
        )
        services.record_add(
            actor=self.caseworker,
            case=case,
            kind="activities",
            type="task",
            shared_with_partners=True,
            subject="Partner to contact the applicant within two business days",
            due_date=(self.clock.current + timedelta(days=2)).date(),
            status="planned",
        )
        services.attachment_add(
            actor=self.caseworker,
            case=case,
            shared_with_partners=True,
            description="Letter sent to the applicant with the referral.",
            upload=ContentFile(
                pdf_document(
                    "Notice of referral to a partner",
                    [
                        f"Case {case.number}",
                        f"Applicant: {household.name}",
                        f"Program: {case.program.name}",
                        "Your case has been referred to a partner organization that will",
                        "contact you within two business days.",
                    ],
                ),
                name="Notice of referral.pdf",
            ),
        )
        services.attachment_add(
            actor=self.caseworker,
            case=case,
            shared_with_partners=False,
            description="Internal eligibility worksheet (income and identifiers).",
            upload=ContentFile(
                text_document(
                    [
                        f"Eligibility worksheet - {case.number}",
                        f"Applicant identifier: {household.identifier}",
                        f"Household size: {household.size}",
                        f"Gross monthly income: ${household.income:,.2f}",
                        "Verified by: pay stubs (2), employer letter",
                    ]
                ),
                name="Eligibility worksheet.txt",
            ),
        )

    @staticmethod
    def _service_request_title(program: str) -> str:
        return {
            "HOUSING": "Emergency rental assistance application",
            "SNAP": "Request benefit history for the fair hearing",
            "MEDICAID": "Coverage reinstatement request",
            "TANF": "Good-cause documentation packet",
            "LIHEAP": "Utility crisis payment pledge",
            "WIC": "Clinic appointment and formula authorization",
            "CCAP": "Child care provider placement",
        }[program]

    def _view(self, case: Case, agent: str) -> None:
        self.clock.advance(self.rng.uniform(1, 6))
        services.case_mark_seen(user=self.users[agent], case=case)

    def _accept(self, member: CaseTeamMember, agent: str) -> CaseTeamMember:
        self._view(member.case, agent)
        self.clock.advance(self.rng.uniform(0.5, 4))
        services.referral_accept(actor=self.users[agent], referral=member.referral)
        member.refresh_from_db()
        return member

    def _complete(self, member: CaseTeamMember, agent: str, outcome: str, note: str) -> None:
        services.referral_complete(
            actor=self.users[agent], referral=member.referral, outcome=outcome, note=note
        )

    def _partner_work(self, case: Case, household: Household, agent: str, *, more: bool) -> None:
        """What a partner writes once the case is accepted (shared by definition)."""
        user = self.users[agent]
        org = user.partner_agent.organization
        lawyer = org.kind == Kind.LAW_FIRM
        surname = household.last
        self.clock.advance(self.rng.uniform(2, 20))
        services.record_add(
            actor=user,
            case=case,
            kind="activities",
            type="call",
            subject=f"First call with {household.name}",
            description=(
                "Conflict check cleared. Went over the notices and the timeline; client will "
                "bring the lease, the rent ledger and every letter received."
                if lawyer
                else "Introduced our program, confirmed the household's needs and set up a "
                "home visit."
            ),
            status="done",
        )
        self.clock.advance(self.rng.uniform(20, 50))
        services.record_add(
            actor=user,
            case=case,
            kind="notes",
            body=(
                f"Met with the {surname} household. Documents copied and returned. Next step: "
                f"file the response before {self.clock.date_in(9)}."
                if lawyer
                else f"Home visit done. The {surname} household qualifies for our program; "
                f"application submitted, decision expected by {self.clock.date_in(7)}."
            ),
        )
        services.record_add(
            actor=user,
            case=case,
            kind="activities",
            type="court" if lawyer and case.program.code in ("HOUSING", "SNAP") else "meeting",
            subject=(
                "Hearing, County Court, Courtroom 4B"
                if lawyer and case.program.code == "HOUSING"
                else "Fair hearing (telephone)"
                if lawyer
                else "Follow-up meeting at our office"
            ),
            due_date=(self.clock.current + timedelta(days=self.rng.randint(6, 20))).date(),
            status="planned",
        )
        if not more:
            return
        self.clock.advance(self.rng.uniform(10, 40))
        services.record_add(
            actor=user,
            case=case,
            kind="servicerequests",
            title=(
                "Obtain the agency case file before the hearing"
                if lawyer
                else "Coordinate a payment plan with the provider"
            ),
            description="Requested by the partner; the agency caseworker is asked to help.",
            priority="normal",
        )
        if Tab.ATTACHMENTS.value in org.default_tabs:
            services.attachment_add(
                actor=user,
                case=case,
                description="Signed by the client.",
                upload=ContentFile(
                    pdf_document(
                        "Engagement letter" if lawyer else "Program enrollment form",
                        [
                            org.name,
                            f"Client: {household.name}",
                            f"Agency case: {case.number}",
                            "Scope: representation in the matter described in the referral."
                            if lawyer
                            else "Services: case management and assistance applications.",
                        ],
                    ),
                    name="Engagement letter.pdf" if lawyer else "Enrollment form.pdf",
                ),
            )

    def _close(self, case: Case, actor=None) -> Case:
        self.clock.advance(self.rng.uniform(24, 120))
        return services.case_transition(actor=actor or self.caseworker, case=case, name="close")

    # Stories -----------------------------------------------------------------------------

    def _story_open(self, story: Story, household: Household) -> None:
        case = self._create(story, household)
        if self.rng.random() < 0.5:
            services.record_add(
                actor=self.caseworker,
                case=case,
                kind="activities",
                type="task",
                subject="Verify income documents",
                description="Pay stubs for the last 30 days still missing.",
                due_date=(self.clock.current + timedelta(days=5)).date(),
                status="in_progress",
            )

    def _story_reopened(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        case = self._close(case)
        self.clock.advance(24 * 30)
        services.record_add(
            actor=self.caseworker,
            case=case,
            kind="notes",
            body="Applicant returned with a new eviction notice; reopening for a fresh review.",
        )
        services.case_transition(actor=self.caseworker, case=case, name="reopen")

    def _story_approved(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        if self.rng.random() < 0.4:
            # Associated with a predefined partner already; the agent comes with the referral.
            candidates = [
                o for o in self.orgs.values() if o.active and story.program in o.programs_served
            ]
            services.partner_add(actor=self.manager, case=case, partner=self.rng.choice(candidates))

    def _story_approved_recalled(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        self._refer(case, household, story.agent)
        self.clock.advance(30)
        services.record_add(
            actor=self.manager,
            case=case,
            kind="notes",
            body="Applicant moved to North County; recalling the referral to send it to a "
            "partner that serves the new address.",
        )
        services.case_transition(actor=self.manager, case=case, name="recall")

    def _story_denied(self, story: Story, household: Household) -> None:
        case = self._create(story, household)
        self.clock.advance(self.rng.uniform(24, 96))
        services.case_update(
            actor=self.caseworker,
            case=case,
            eligibility_notes=self.rng.choice(D.denial_notes),
        )
        services.case_transition(actor=self.manager, case=case, name="deny")

    def _story_closed_benefits_issued(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        self.clock.advance(48)
        services.record_add(
            actor=self.caseworker,
            case=case,
            kind="notes",
            body="Benefits issued; first payment confirmed by the applicant. No partner "
            "referral needed.",
        )
        self._close(case)

    def _story_closed_after_denial(self, story: Story, household: Household) -> None:
        case = self._create(story, household)
        self.clock.advance(72)
        services.case_transition(actor=self.manager, case=case, name="deny")
        self.clock.advance(24 * 35)
        services.record_add(
            actor=self.caseworker,
            case=case,
            kind="notes",
            body="Appeal window passed without an appeal; closing.",
        )
        self._close(case)

    def _story_closed_referral_completed(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._refer(case, household, story.agent)
        member = self._accept(member, story.agent)
        self._partner_work(case, household, story.agent, more=True)
        self.clock.advance(24 * 14)
        services.record_add(
            actor=self.users[story.agent],
            case=case,
            kind="notes",
            body="Matter resolved: agreement signed and the household is stable. Closing our file.",
        )
        self._complete(
            member,
            story.agent,
            self.rng.choice([Outcome.SERVED, Outcome.SERVED, Outcome.PARTLY_SERVED]),
            "Agreement signed; the household is stable. File closed.",
        )
        self._close(case, actor=self.manager)

    def _story_referral_completed(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._accept(self._refer(case, household, story.agent), story.agent)
        self._partner_work(case, household, story.agent, more=True)
        self.clock.advance(24 * 10)
        services.record_add(
            actor=self.users[story.agent],
            case=case,
            kind="notes",
            body="Case dismissed at the hearing; the landlord accepted a payment plan. Our work "
            "is complete.",
        )
        self._complete(
            member,
            story.agent,
            Outcome.SERVED,
            "Eviction case dismissed at the hearing; payment plan agreed with the landlord.",
        )

    def _story_referral_accepted(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        if story.agent == "partner" and not self.sensitive_done:
            # This client's consent covers substance-use records (42 CFR Part 2) too.
            self.sensitive_done = True
            self._consent(case, self.agent_orgs[story.agent], sensitive=True)
            services.record_add(
                actor=self.caseworker,
                case=case,
                kind="notes",
                shared_with_partners=True,
                substance_use=True,
                body="The applicant completed a 12-week outpatient treatment program in March; "
                "the provider's letter supports the good-cause claim in the appeal.",
            )
        member = self._accept(self._refer(case, household, story.agent), story.agent)
        if story.options.get("work", True):
            self._partner_work(case, household, story.agent, more=self.rng.random() < 0.6)
        if self.rng.random() < 0.3:
            services.case_update(actor=self.manager, case=member.case, priority=Case.Priority.HIGH)

    def _story_referral_seen(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        expiring = not self.expiring_done
        if expiring:
            # The client agreed to a short consent: it ends tonight, and the case leaves
            # the partner's My Cases with a notice unless the agency records a new one.
            self.expiring_done = True
            self._consent(
                case, self.agent_orgs[story.agent], ends_on=timezone.localdate(timezone.now())
            )
        self._refer(case, household, story.agent)
        self._view(case, story.agent)
        withdrawn = story.options.get("consent") == "withdrawn"
        if withdrawn and not expiring and not self.withdrawn_done:
            # The client withdrew the consent: the partner's access ended at once, and their
            # My Cases says so.
            self.withdrawn_done = True
            self.clock.advance(3)
            for consent in case.consents.filter(revoked_at__isnull=True):
                services.consent_revoke(
                    actor=self.caseworker,
                    consent=consent,
                    reason="The client called to withdraw consent: they found a private attorney.",
                )

    def _story_referral_pending(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        tabs = None
        if story.options.get("tabs") == "no_attachments":
            # The agency's per-case choice: this partner does not get the Attachments tab.
            tabs = [t for t in ALL_TABS if t != Tab.ATTACHMENTS.value]
        self._refer(case, household, story.agent, tabs=tabs)

    def _story_referral_declined_then_partner(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._refer(case, household, "partner2")
        self._view(case, "partner2")
        services.referral_decline(
            actor=self.users["partner2"],
            referral=member.referral,
            reason=Decline.CONFLICT,
            note="Our office represented the landlord's management company in 2024; the "
            "conflict check failed.",
        )
        self.clock.advance(3)
        self._consent(case, self.agent_orgs[story.agent])
        services.case_team_add(
            actor=self.manager,
            case=case,
            user=self.users[story.agent],
            response_hours=D.response_window_hours,
            replaces=member.referral,
        )

    def _story_referral_reassigned(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._refer(case, household, "partner2")
        self.clock.advance(5)
        services.referral_reassign(
            actor=self.users["partnermgr"],
            referral=member.referral,
            to_user=self.users[story.agent],
        )

    def _story_referral_expired_then_accepted(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._refer(case, household, "partner2", hours=16)
        self.clock.advance(24 * 4)
        services.referral_expire(referral=member.referral, now=self.clock.now())
        self.clock.advance(2)
        self._consent(case, self.agent_orgs[story.agent])
        member = services.case_team_add(
            actor=self.manager,
            case=case,
            user=self.users[story.agent],
            response_hours=D.response_window_hours,
            replaces=member.referral,
        )
        self._accept(member, story.agent)
        self._partner_work(case, household, story.agent, more=False)

    def _story_referral_partner_removed(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        services.partner_add(
            actor=self.manager, case=case, partner=self.orgs["Metro Immigrant Legal Services"]
        )
        member = self._refer(case, household, story.agent)
        self.clock.advance(1)
        # Associated by mistake: removing the Primary promotes Northside Legal Aid.
        services.partner_remove(
            actor=self.manager, case=case, partner=self.orgs["Metro Immigrant Legal Services"]
        )
        self._accept(member, story.agent)
        self._partner_work(case, household, story.agent, more=True)

    def _story_referral_primary_swap(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        services.partner_add(
            actor=self.manager, case=case, partner=self.orgs["County Housing Authority"]
        )
        self._refer(case, household, story.agent)
        self.clock.advance(0.5)
        services.partner_set_primary(
            actor=self.manager, case=case, partner=self.orgs["Northside Legal Aid"]
        )

    def _story_referral_overdue(self, story: Story, household: Household) -> None:
        """Pending past its due time: the expiry job re-routes or escalates it once the
        worker runs (within a minute of `make run`)."""
        case = self._approve(self._create(story, household))
        self._refer(case, household, story.agent, hours=8)
        # When it expires, the next candidate of the rule may be of another organization.
        self._consent(case, program=case.program)
        self._view(case, story.agent)

    def _story_referral_waitlisted(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._accept(self._refer(case, household, story.agent), story.agent)
        self.clock.advance(3)
        services.referral_waitlist(
            actor=self.users[story.agent],
            referral=member.referral,
            review_at=self.clock.current + timedelta(days=14),
            position=4,
            note="Our housing clinic is full this month; the client is fourth on the list.",
        )

    def _story_referral_could_not_help(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        member = self._accept(self._refer(case, household, story.agent), story.agent)
        self._partner_work(case, household, story.agent, more=False)
        self.clock.advance(24 * 3)
        services.referral_fail(
            actor=self.users[story.agent],
            referral=member.referral,
            reason=Referral.FailReason.CLIENT_INELIGIBLE,
            note="Household income is above our program's limit for representation.",
        )

    def _story_referral_escalated(self, story: Story, household: Household) -> None:
        """Nobody answered and no routing rule matches: back in the owner's Inbox."""
        case = self._approve(self._create(story, household, owner=self.manager))
        member = self._refer(case, household, story.agent, hours=8)
        self.clock.advance(24 * 3)
        routing.referrals_expire_overdue(now=self.clock.now(), ids=[member.referral_id])

    def _story_referral_intake(self, story: Story, household: Household) -> None:
        """Referred to an organization: in its partner managers' intake queue."""
        case = self._approve(self._create(story, household))
        self.clock.advance(self.rng.uniform(4, 30))
        case = services.case_transition(
            actor=self.manager, case=case, name="refer", auto_route=False
        )
        self._share_referral_packet(case, household)
        self._consent(case, self.orgs["Northside Legal Aid"])
        services.referral_to_organization(
            actor=self.manager,
            case=case,
            organization=self.orgs["Northside Legal Aid"],
            response_hours=D.response_window_hours,
        )

    def _story_third_party_unassigned(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        self.clock.advance(6)
        case = services.case_transition(
            actor=self.manager, case=case, name="refer", auto_route=False
        )
        self._share_referral_packet(case, household)
        # Every partner of the program may be chosen: Route Automatically can pick one.
        self._consent(case, program=case.program)

    # Summary -----------------------------------------------------------------------------

    def _report(self, new_users: int, new_cases: int, new_rules: int, seconds: float) -> None:
        by_status = Counter(Case.objects.values_list("status", flat=True))
        labels = dict(Case.Status.choices)
        partner = self.users["partner"]
        memberships = CaseTeamMember.objects.filter(user=partner, is_active=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready in {seconds:.1f}s: {new_users} new users, {new_cases} new cases, "
                f"{new_rules} new routing rules."
            )
        )
        self.stdout.write(
            "  Cases: "
            + ", ".join(f"{labels[s]} {by_status.get(s, 0)}" for s in Case.Status.values)
            + f"; {PartnerOrganization.objects.count()} partner organizations, "
            f"{CaseEvent.objects.count()} case events."
        )
        self.stdout.write(
            f"  partner: {memberships.count()} cases in My Cases, "
            f"{memberships.filter(seen_at__isnull=True).count()} New, "
            f"{memberships.filter(referral_state__in=Referral.WORKING_STATES).count()} accepted "
            "or in progress."
        )
        self.stdout.write(
            f"  Logins (password {D.password}): " + ", ".join(login.username for login in D.logins)
        )


def load_demo_rules() -> int:
    """The Assignment Manager's demo rules that do not exist yet (by name), made by the rule
    service as the system; returns how many were made. A rule a manager edited is left
    alone. Run after the demo organizations exist: referring a demo case then routes it to a
    Northside Legal Aid agent, with the reason on the case page."""
    organizations = {o.name: o for o in PartnerOrganization.objects.all()}
    existing = set(AssignmentRule.objects.values_list("name", flat=True))
    created = 0
    for spec in D.routing_rules:
        spec = dict(spec)
        pool = [organizations[n] for n in spec.pop("organizations") if n in organizations]
        if spec["name"] in existing or not pool:
            continue
        assignment_rule_create(actor=None, organizations=pool, **spec)
        created += 1
    return created
