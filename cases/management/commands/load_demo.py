"""Load the Caseworks demo data: programs, partner organizations, the demo logins, the
Assignment Manager's demo rules and about sixty cases in every status, each built through
`cases.services` exactly as the agency and the partners would build it.

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

from cases import routing, services
from cases.models import Case, CaseEvent, CaseTeamMember, Referral
from cases.records import Tab
from casesite import clock as casesite_clock
from casesite.roles import Role, sync_roles
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import partner_agent_save

DEMO_PASSWORD = "caseworks-demo"  # noqa: S105  (documented demo accounts)
SEED = 2026
CASE_YEAR = 2026

Kind = PartnerOrganization.Kind
State = Referral.State
Decline = Referral.DeclineReason
Outcome = Referral.Outcome
# The response window of the demo's referrals made by hand: two working weeks.
DEMO_WINDOW = 80
Status = Case.Status
ALL_TABS = [
    Tab.ACTIVITIES.value,
    Tab.ATTACHMENTS.value,
    Tab.SERVICEREQUESTS.value,
    Tab.NOTES.value,
]

PROGRAMS = [
    ("SNAP", "SNAP"),
    ("MEDICAID", "Medicaid"),
    ("TANF", "TANF"),
    ("HOUSING", "Housing Assistance"),
    ("LIHEAP", "LIHEAP Energy Assistance"),
    ("WIC", "WIC"),
    ("CCAP", "Child Care Assistance"),
]

REGIONS = ["North County", "Harbor District", "Eastside", "Downtown", "Riverbend"]

ORGANIZATIONS = [
    {
        "name": "Northside Legal Aid",
        "kind": Kind.LAW_FIRM,
        "programs_served": ["HOUSING", "SNAP", "MEDICAID", "TANF"],
        "service_areas": ["North County", "Downtown", "Riverbend"],
        "languages": ["en", "es"],
        "default_tabs": ALL_TABS,
    },
    {
        "name": "Harbor Family Services",
        "kind": Kind.SERVICE_PROVIDER,
        "programs_served": ["TANF", "WIC", "CCAP", "SNAP"],
        "service_areas": ["Harbor District", "Downtown"],
        "languages": ["en", "es", "vi"],
        "default_tabs": [Tab.ACTIVITIES.value, Tab.SERVICEREQUESTS.value, Tab.NOTES.value],
    },
    {
        "name": "County Housing Authority",
        "kind": Kind.GOVERNMENT_AGENCY,
        "programs_served": ["HOUSING", "LIHEAP"],
        "service_areas": REGIONS,
        "languages": ["en", "es", "zh"],
        "default_tabs": [
            Tab.ACTIVITIES.value,
            Tab.ATTACHMENTS.value,
            Tab.SERVICEREQUESTS.value,
        ],
    },
    {
        "name": "Eastside Community Action",
        "kind": Kind.SERVICE_PROVIDER,
        "programs_served": ["LIHEAP", "SNAP", "WIC"],
        "service_areas": ["Eastside", "Riverbend"],
        "languages": ["en", "es", "ar"],
        "default_tabs": [Tab.ACTIVITIES.value, Tab.NOTES.value],
    },
    {
        "name": "Riverbend Workforce Center",
        "kind": Kind.SERVICE_PROVIDER,
        "programs_served": ["TANF", "CCAP", "SNAP"],
        "service_areas": ["Riverbend", "North County"],
        "languages": ["en", "es"],
        "default_tabs": [Tab.ACTIVITIES.value, Tab.SERVICEREQUESTS.value],
    },
    {
        "name": "Metro Immigrant Legal Services",
        "kind": Kind.LAW_FIRM,
        "programs_served": ["MEDICAID", "SNAP", "TANF"],
        "service_areas": ["Downtown", "Eastside", "Harbor District"],
        "languages": ["en", "es", "zh", "vi", "ar"],
        "default_tabs": [Tab.ACTIVITIES.value, Tab.ATTACHMENTS.value, Tab.NOTES.value],
    },
    {
        "name": "Lakeshore Senior Services",
        "kind": Kind.OTHER,
        "programs_served": ["LIHEAP", "MEDICAID"],
        "service_areas": ["North County"],
        "languages": ["en"],
        "default_tabs": [Tab.ACTIVITIES.value, Tab.NOTES.value],
        "active": False,  # contract ended: stays in the directory, takes no new cases
    },
]

# username, first, last, agency role, (organization, partner role, languages, programs)
DEMO_LOGINS = [
    ("admin", "Avery", "Admin", None, None),
    ("manager", "Monica", "Reyes", Role.AGENCY_MANAGER, None),
    ("caseworker", "Carlos", "Whitfield", Role.AGENCY_CASEWORKER, None),
    (
        "partner",
        "Priya",
        "Natarajan",
        None,
        ("Northside Legal Aid", PartnerAgent.Role.AGENT, ["en", "es"], ["HOUSING", "SNAP"]),
    ),
    (
        "partner2",
        "Daniel",
        "Okafor",
        None,
        ("Northside Legal Aid", PartnerAgent.Role.AGENT, ["en"], ["MEDICAID", "TANF", "HOUSING"]),
    ),
    (
        "partnermgr",
        "Grace",
        "Lindqvist",
        None,
        ("Northside Legal Aid", PartnerAgent.Role.MANAGER, ["en", "es"], []),
    ),
    (
        "outsider",
        "Tomas",
        "Herrera",
        None,
        ("Harbor Family Services", PartnerAgent.Role.AGENT, ["en", "es"], ["TANF", "WIC", "CCAP"]),
    ),
]
# Partner agents of the directory who cannot sign in (no usable password): they make the
# other organizations real case team members and routing candidates.
DIRECTORY_AGENTS = [
    ("hwu", "Helen", "Wu", "County Housing Authority", ["en", "zh"], ["HOUSING", "LIHEAP"]),
    ("amansour", "Amira", "Mansour", "Eastside Community Action", ["en", "ar"], ["LIHEAP"]),
    ("jbrooks", "Jerome", "Brooks", "Riverbend Workforce Center", ["en"], ["TANF", "CCAP"]),
    ("lnguyen", "Linh", "Nguyen", "Metro Immigrant Legal Services", ["en", "vi"], ["MEDICAID"]),
    ("kmurphy", "Kathleen", "Murphy", "Harbor Family Services", ["en"], ["WIC", "CCAP"]),
]

# Households: language -> (first names, last names).
NAMES = {
    language: (first.split(", "), last.split(", "))
    for language, first, last in [
        (
            "en",
            "Tanya, Marcus, Jessica, Robert, Ashley, DeShawn, Linda, Kevin, Brenda, Tyrone, "
            "Heather, Dwayne, Shannon, Patrick, Keisha, Earl",
            "Johnson, Williams, Miller, Thompson, Harris, Coleman, Bennett, Foster, Jenkins, "
            "Sullivan, Washington, Kowalski, Reed, Gallagher",
        ),
        (
            "es",
            "Maria, José, Guadalupe, Luis, Rosa, Alejandra, Miguel, Carmen, Jorge, Yesenia, "
            "Ramón, Lucía",
            "Delgado, Hernández, Ramírez, Castillo, Morales, Vargas, Ortiz, Flores, Mendoza, "
            "Aguilar, Rosales, Cabrera",
        ),
        ("vi", "Thi Lan, Van Minh, Thu Ha, Quoc Bao", "Tran, Pham, Le, Vo"),
        ("zh", "Mei, Wei, Xiu Ying, Jian", "Chen, Liu, Huang, Zhao"),
        ("ar", "Fatima, Omar, Layla, Yusuf", "Haddad, Saleh, Khalil, Nasser"),
    ]
}

# What brings a household to the agency, per program: (topic for the Case Name, summary,
# needs a lawyer). {n} is the household size, {kids} its children.
STORIES = {
    "HOUSING": [
        (
            "Eviction defense",
            "Eviction notice received; landlord filed for possession in County Court. Household "
            "of {n} is two months behind on rent after the applicant's hours were cut. Needs "
            "legal representation before the first hearing and emergency rental assistance.",
            True,
        ),
        (
            "Notice to pay or quit",
            "Three-day notice to pay or quit posted on the door. Tenant disputes the amount "
            "claimed (late fees added twice) and the landlord refuses a partial payment.",
            True,
        ),
        (
            "Habitability dispute",
            "No heat and a mold problem reported to the landlord in writing four months ago. "
            "Tenant paid rent into escrow; landlord answered with a non-renewal notice.",
            True,
        ),
        (
            "Rent increase at renewal",
            "Senior on a fixed income received a 28% rent increase at lease renewal. Household "
            "of {n}; rent would exceed 60% of income. At risk of homelessness by next month.",
            False,
        ),
        (
            "Displaced after fire",
            "Family of {n} displaced by a fire in their apartment building; staying with "
            "relatives. Needs a housing voucher, a security deposit and furniture assistance.",
            False,
        ),
    ],
    "SNAP": [
        (
            "Student eligibility appeal",
            "Denied as an ineligible student although the applicant works 22 hours a week at a "
            "pharmacy. Wants to appeal before the 90-day deadline.",
            True,
        ),
        (
            "SNAP recertification",
            "Recertification overdue and benefits stopped on the 1st. Applicant says the "
            "interview notice went to an old address; {kids} children in the household.",
            False,
        ),
        (
            "Overpayment dispute",
            "Agency overpayment claim of $1,840 disputed: applicant reported the new job within "
            "ten days. Requests a fair hearing and a stop to the recoupment.",
            True,
        ),
        (
            "Expedited SNAP",
            "Laid off from a warehouse job three weeks ago; household of {n} with no income and "
            "$40 in the bank. Screened for expedited benefits.",
            False,
        ),
    ],
    "MEDICAID": [
        (
            "Coverage terminated at renewal",
            "Coverage terminated at renewal for missing paperwork although the applicant faxed "
            "the documents twice. Ongoing dialysis three times a week is at risk.",
            True,
        ),
        (
            "Prenatal enrollment",
            "Pregnant applicant in her second trimester with no coverage; needs enrollment and "
            "a prenatal provider who takes new patients.",
            False,
        ),
        (
            "Status verification",
            "Lawfully present for three years; eligibility held up by an immigration-status "
            "verification mismatch. Needs help answering the request for documents.",
            True,
        ),
    ],
    "TANF": [
        (
            "Time-limit extension hearing",
            "Applicant reached the 60-month limit while caring for a disabled child; the "
            "extension was denied without a hearing. Household of {n}.",
            True,
        ),
        (
            "Sanction good-cause review",
            "Single parent of {kids}; sanctioned for a missed work-activity appointment during a "
            "hospital stay. Requests a good-cause review and restoration of the grant.",
            True,
        ),
        (
            "Family violence waiver",
            "Applicant left the home after domestic violence and is staying at a shelter with "
            "{kids} children. Needs a family violence waiver and a confidential address.",
            False,
        ),
        (
            "Work plan support",
            "Employment plan starts with a forklift certification course; applicant needs child "
            "care and bus passes before the first class.",
            False,
        ),
    ],
    "LIHEAP": [
        (
            "Shut-off notice",
            "Disconnect notice from Harbor Gas & Electric, balance $612. Household includes an "
            "infant and an adult who uses an oxygen concentrator.",
            False,
        ),
        (
            "Furnace failure",
            "Furnace failed the safety inspection and was red-tagged; family of {n} heating with "
            "the oven. Needs crisis assistance and a furnace repair referral.",
            False,
        ),
        (
            "Heating oil delivery",
            "Elderly homeowner behind on heating oil; the supplier will not deliver again until "
            "the $480 balance is paid. Tank is nearly empty.",
            False,
        ),
    ],
    "WIC": [
        (
            "Special formula",
            "Infant born at 34 weeks needs a specialized formula approved by the pediatrician; "
            "mother also asked for a breastfeeding peer counselor.",
            False,
        ),
        (
            "Out-of-state transfer",
            "Family moved from out of state last month; WIC transfer card and proof of "
            "certification are missing. {kids} children under five.",
            False,
        ),
    ],
    "CCAP": [
        (
            "Child care for training",
            "Parent starts a nursing assistant program next month and needs care for {kids} "
            "preschoolers on class days. No approved provider on the waiting list yet.",
            False,
        ),
        (
            "Provider stopped subsidy",
            "The family's provider stopped accepting the subsidy after payment delays; care ends "
            "Friday and the parent works full time.",
            False,
        ),
        (
            "Overnight shift care",
            "Hospital shift worker needs overnight care for {kids} children; no licensed "
            "overnight provider within reach by bus.",
            False,
        ),
    ],
}

URGENT_TOPICS = {"Eviction defense", "Notice to pay or quit", "Shut-off notice", "Furnace failure"}
LANGUAGE_NAMES = {"es": "Spanish", "vi": "Vietnamese", "zh": "Chinese", "ar": "Arabic"}

# Internal-only text written by the agency: never shared with partners.
INTERNAL_NOTES = [
    "Identity verified in person with a state ID. SSN and income documents are on file; "
    "do not forward them to the partner.",
    "Supervisor review: eligible under the emergency criteria. Income worksheet kept in the "
    "internal file only.",
    "Prior overpayment on a closed case from 2023 is settled; nothing owed now. Internal "
    "history, not for the partner.",
    "Landlord called the agency asking about the tenant's benefits; no information was given.",
]
DENIAL_NOTES = [
    "Gross income of the household exceeds the program limit for its size; notice of denial "
    "mailed with appeal rights.",
    "Applicant did not return the verification checklist by the deadline after two reminders.",
    "Applicant already receives the same benefit in another county; case denied as duplicate.",
    "Household resources above the asset limit (savings account verified).",
]


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
    topic: tuple[str, str, bool] = ("", "", False)
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
                for code, name in PROGRAMS
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
            new_cases = 0
            with quiet_services(self.clock):
                for story in stories:
                    if story.number in existing:
                        continue
                    # One generator per case: the same case gets the same data whatever
                    # else already exists.
                    self.rng = random.Random(f"{SEED}-{story.number}")  # noqa: S311  (demo data)
                    self.clock.start(story.days_ago, minute=self.rng.randint(0, 150))
                    getattr(self, f"_story_{story.kind}")(story, story.household)
                    new_cases += 1
            # The Assignment Manager's demo rules (idempotent: by rule name), after the cases.
            new_rules = routing.load_demo_rules()
        self._report(new_users, new_cases, new_rules, time.monotonic() - started)

    # Directory and logins ------------------------------------------------------------------

    def _organizations(self) -> dict[str, PartnerOrganization]:
        orgs = {}
        for spec in ORGANIZATIONS:
            values = {"active": True, **{k: v for k, v in spec.items() if k != "name"}}
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
        hashed = make_password(DEMO_PASSWORD)  # hashed once: the demo loads in seconds
        users, created_count = {}, 0
        rows = [(*row, True) for row in DEMO_LOGINS] + [
            (username, first, last, None, (org, PartnerAgent.Role.AGENT, langs, progs), False)
            for username, first, last, org, langs, progs in DIRECTORY_AGENTS
        ]
        for username, first, last, agency_role, partner, can_sign_in in rows:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@caseworks.example",
                    "is_staff": username == "admin",
                    "is_superuser": username == "admin",
                    "password": hashed if can_sign_in else make_password(None),
                },
            )
            created_count += created
            if agency_role and not user.groups.filter(name=agency_role).exists():
                user.groups.add(Group.objects.get(name=agency_role))
            if partner:
                org_name, role, languages, programs = partner
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
        rng = random.Random(SEED)  # noqa: S311  (demo data, not secrets)
        legal = [p for p, stories in STORIES.items() if any(s[2] for s in stories)]
        stories: list[Story] = []

        def add(kind, count, programs, days, agent="", **options):
            for _ in range(count):
                stories.append(
                    Story(
                        kind=kind,
                        programs=programs,
                        days_ago=rng.uniform(*days),
                        agent=agent,
                        options=dict(options),
                    )
                )

        everything = list(STORIES)
        # Closed history, oldest first.
        add("closed_benefits_issued", 3, everything, (95, 120))
        add("closed_after_denial", 2, everything, (90, 115))
        add("closed_referral_completed", 2, legal, (70, 100), agent="partner")
        add("closed_referral_completed", 1, legal, (70, 100), agent="partner2")
        add("closed_referral_completed", 1, ["TANF", "WIC", "CCAP"], (70, 100), agent="outsider")
        add("closed_referral_completed", 1, ["HOUSING", "LIHEAP"], (70, 100), agent="hwu")
        # Denied.
        add("denied", 6, everything, (10, 60))
        # Third-Party, oldest work first.
        add("referral_completed", 1, legal, (40, 55), agent="partner")
        add("referral_accepted", 7, legal, (12, 45), agent="partner")
        add("referral_accepted", 2, legal, (12, 40), agent="partner2")
        add("referral_accepted", 1, ["TANF", "CCAP", "WIC"], (15, 35), agent="outsider")
        add("referral_accepted", 1, ["HOUSING", "LIHEAP"], (15, 35), agent="hwu")
        add("referral_accepted", 1, ["LIHEAP"], (15, 35), agent="amansour")
        add("referral_expired_then_accepted", 1, legal, (20, 30), agent="partner")
        add("referral_partner_removed", 1, ["HOUSING"], (15, 25), agent="partner")
        add("referral_seen", 2, legal, (4, 8), agent="partner")
        add("referral_pending", 1, legal, (3, 6), agent="partner2")
        add("referral_pending", 1, ["MEDICAID"], (3, 6), agent="lnguyen")
        add("referral_pending", 1, ["TANF", "WIC", "CCAP"], (1, 3), agent="outsider")
        add("referral_declined_then_partner", 1, ["MEDICAID", "TANF"], (5, 9), agent="partner")
        add("referral_reassigned", 1, legal, (3, 6), agent="partner")
        add("referral_primary_swap", 1, ["HOUSING"], (1.5, 3), agent="partner")
        add("referral_pending", 1, legal, (0.6, 2), agent="partner", tabs="no_attachments")
        add("referral_pending", 2, legal, (0.3, 2), agent="partner")
        add("referral_accepted", 1, legal, (2, 4), agent="partner", work=False)
        add("referral_waitlisted", 1, legal, (4, 7), agent="partner")
        add("referral_could_not_help", 1, legal, (12, 25), agent="partner2")
        add("referral_escalated", 1, legal, (6, 9), agent="partner2")
        add("referral_overdue", 1, legal, (3, 5), agent="partner")
        add("referral_intake", 1, legal, (0.5, 2))
        add("third_party_unassigned", 1, everything, (0.5, 1.5))
        # Approved and ready to refer, recalled, open.
        add("approved_recalled", 1, ["TANF", "CCAP"], (8, 14), agent="outsider")
        add("approved", 7, everything, (1, 10))
        add("reopened", 1, everything, (60, 80))
        add("open", 9, everything, (0.1, 6))

        stories.sort(key=lambda s: -s.days_ago)
        used: Counter = Counter()
        names: set[tuple[str, str]] = set()

        def least_used(options):
            # Spread the cases over programs and topics instead of repeating a few.
            choice = min(options, key=lambda o: (used[o], rng.random()))
            used[choice] += 1
            return choice

        for sequence, story in enumerate(stories, start=1):
            story.number = f"CASE-{CASE_YEAR}-{sequence:06d}"
            org = self._org_of(story.agent)
            story.program = least_used(story.programs)
            topics = STORIES[story.program]
            if org is not None:
                # Law firms take the legal matters, the others the rest.
                lawyer = org.kind == Kind.LAW_FIRM
                topics = [t for t in topics if t[2] == lawyer] or topics
            story.topic = least_used(topics)
            story.household = self._household(rng, org, names)
        return stories

    @staticmethod
    def _household(rng: random.Random, org, names: set) -> Household:
        languages = org.languages if org else ["en", "en", "en", "es", "es", "vi", "zh", "ar"]
        regions = org.service_areas if org else REGIONS
        language = rng.choice(languages)
        firsts, lasts = NAMES[language]
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
        topic, summary, _ = story.topic
        drawn = self.manager if self.rng.random() < 0.4 else self.caseworker
        owner = owner or drawn
        priority = self.rng.choice(
            [Case.Priority.NORMAL] * 4 + [Case.Priority.HIGH] * 2 + [Case.Priority.LOW]
        )
        if topic in URGENT_TOPICS:
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
            body=self.rng.choice(INTERNAL_NOTES),
        )
        return services.case_transition(actor=self.manager, case=case, name="approve")

    def _refer(
        self, case: Case, household: Household, agent: str, tabs=None, hours: int = DEMO_WINDOW
    ) -> CaseTeamMember:
        """Refer to Third-Party, share what the partner needs, add the agent to the team
        with a response window of `hours` business hours."""
        self.clock.advance(self.rng.uniform(4, 30))
        case = services.case_transition(
            actor=self.manager, case=case, name="refer", auto_route=False
        )
        self._share_referral_packet(case, household)
        self.clock.advance(0.2)
        return services.case_team_add(
            actor=self.manager, case=case, user=self.users[agent], tabs=tabs, response_hours=hours
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
                    f" and speaks {LANGUAGE_NAMES[household.language]} at home."
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
            eligibility_notes=self.rng.choice(DENIAL_NOTES),
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
        member = self._accept(self._refer(case, household, story.agent), story.agent)
        if story.options.get("work", True):
            self._partner_work(case, household, story.agent, more=self.rng.random() < 0.6)
        if self.rng.random() < 0.3:
            services.case_update(actor=self.manager, case=member.case, priority=Case.Priority.HIGH)

    def _story_referral_seen(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        self._refer(case, household, story.agent)
        self._view(case, story.agent)

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
        services.case_team_add(
            actor=self.manager,
            case=case,
            user=self.users[story.agent],
            response_hours=DEMO_WINDOW,
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
        member = services.case_team_add(
            actor=self.manager,
            case=case,
            user=self.users[story.agent],
            response_hours=DEMO_WINDOW,
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
        services.referral_to_organization(
            actor=self.manager,
            case=case,
            organization=self.orgs["Northside Legal Aid"],
            response_hours=DEMO_WINDOW,
        )

    def _story_third_party_unassigned(self, story: Story, household: Household) -> None:
        case = self._approve(self._create(story, household))
        self.clock.advance(6)
        case = services.case_transition(
            actor=self.manager, case=case, name="refer", auto_route=False
        )
        self._share_referral_packet(case, household)

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
            f"  Logins (password {DEMO_PASSWORD}): "
            + ", ".join(username for username, *_ in DEMO_LOGINS)
        )
