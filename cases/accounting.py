"""The accounting of disclosures of one case (42 CFR 2.24, HIPAA 45 CFR 164.528): for each
partner organization, what it was allowed to see and what its agents actually opened.

Read-only, for agency staff (the caller has looked the case up in what the user may see):

- **bases**: every consent that names the organization or a program it serves, and every
  emergency access granted to it, with what each covered and from when to when. A basis
  ends at the first of its end date, its revocation, its supersession (the moment the new
  consent was recorded) or, for emergency access, its expiry.
- **disclosures**: the case events of its partner users that disclosed something: the
  case page or a tab opened (VIEWED, the tab in the event's data), a file downloaded
  (DOWNLOADED), newest first. Agency users' downloads are not disclosures.

A program's partners are those whose `programs_served` lists it now: the directory keeps
no history of that list. A partner user's organization is the one of their profile now.

`case_accounting` (the page) keeps the newest `limit` disclosures per organization; `csv_rows`
(the export) yields every one. Both take a fixed number of queries, whatever the number of
events: the events are read in one query (ranked per organization, or streamed).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db.models import Case as Switch
from django.db.models import Count, F, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from accounts.people import display_name, name_of
from casesite import clock
from partners.models import PartnerOrganization

from . import access
from .models import Attachment, Case, CaseEvent, Consent, EmergencyAccess, consent_data_choices
from .records import KINDS

Verb = CaseEvent.Verb

PAGE_LIMIT = 200  # disclosures listed per organization on the page; the CSV has them all
DISCLOSING_VERBS = (Verb.VIEWED, Verb.DOWNLOADED)
ORGANIZATION = "actor__partner_agent__organization"

CSV_HEADER = ["Organization", "Kind", "Detail", "From", "To / at", "Agent"]
UNKNOWN_ORGANIZATION = "Unknown organization (partner user no longer on record)"


@dataclass(frozen=True)
class Basis:
    """One legal basis an organization had to see the case: a consent or emergency access."""

    kind: str  # CONSENT or EMERGENCY
    pk: int
    recipient: str  # whom it names: the organization, or every partner of a program
    covers: tuple[str, ...]  # labels of the data it covered
    purpose: str  # the consent's purpose, the emergency's reason
    starts: date | datetime  # a consent starts on a day, emergency access at an instant
    starts_at: datetime
    ends: date | datetime  # its end date, or the instant it was revoked, superseded, lapsed
    ends_at: datetime
    ended_by: str  # END_DATE, REVOKED, SUPERSEDED or EXPIRY
    state: str  # IN_FORCE, ENDED or NOT_STARTED, at the time of the accounting
    superseded_by: int | None = None

    CONSENT = "consent"
    EMERGENCY = "emergency"
    END_DATE = "end_date"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    EXPIRY = "expiry"
    IN_FORCE = "in force"
    ENDED = "ended"
    NOT_STARTED = "not started"

    @property
    def label(self) -> str:
        return f"Consent #{self.pk}" if self.kind == self.CONSENT else "Emergency access"

    @property
    def end_text(self) -> str:
        """How it ends, for a person: "Revoked", "Superseded by consent #7", ..."""
        if self.ended_by == self.REVOKED:
            return "Revoked"
        if self.ended_by == self.SUPERSEDED:
            return f"Superseded by consent #{self.superseded_by}"
        if self.ended_by == self.EXPIRY:
            return "Expiry"
        return "End date"


@dataclass(frozen=True)
class Disclosure:
    """One thing a partner user opened or downloaded."""

    at: datetime
    verb: str  # VIEWED or DOWNLOADED
    agent: str
    what: str  # "Case page", "Notes tab", a file name

    @property
    def action(self) -> str:
        return "Downloaded" if self.verb == Verb.DOWNLOADED else "Opened"


@dataclass
class OrganizationAccount:
    """What one organization was allowed to see and what its agents opened."""

    organization_id: int | None
    name: str
    bases: list[Basis] = field(default_factory=list)
    disclosures: list[Disclosure] = field(default_factory=list)  # newest first, capped
    disclosure_count: int = 0  # all of them

    @property
    def capped(self) -> bool:
        return self.disclosure_count > len(self.disclosures)

    @property
    def in_force(self) -> list[Basis]:
        return [basis for basis in self.bases if basis.state == Basis.IN_FORCE]


def _data_labels() -> dict[str, str]:
    labels = dict(consent_data_choices())
    labels[access.SUBSTANCE_USE] = "Substance use (42 CFR Part 2)"
    return labels


def _covers(data, labels: dict[str, str]) -> tuple[str, ...]:
    """The labels of `data`, in the declared order of what a consent may cover."""
    given = set(data or [])
    return tuple(label for key, label in labels.items() if key in given) + tuple(
        sorted(item for item in given if item not in labels)
    )


def _state(starts_at: datetime, ends_at: datetime, now: datetime) -> str:
    if now < starts_at:
        return Basis.NOT_STARTED
    return Basis.IN_FORCE if now < ends_at else Basis.ENDED


def _consent_basis(consent: Consent, labels: dict[str, str], now: datetime) -> Basis:
    ends_on = access.end_of(consent.ends_on)
    ends: list[tuple[datetime, str]] = [(ends_on, Basis.END_DATE)]
    if consent.revoked_at is not None:
        ends.append((consent.revoked_at, Basis.REVOKED))
    successor = getattr(consent, "superseded_by", None)
    if successor is not None:
        ends.append((successor.recorded_at, Basis.SUPERSEDED))
    ends_at, ended_by = min(ends, key=lambda end: end[0])
    starts_at = _start_of(consent.starts_on)
    return Basis(
        kind=Basis.CONSENT,
        pk=consent.pk,
        recipient=consent.recipient,
        covers=_covers(consent.data, labels),
        purpose=consent.purpose,
        starts=consent.starts_on,
        starts_at=starts_at,
        ends=consent.ends_on if ended_by == Basis.END_DATE else ends_at,
        ends_at=ends_at,
        ended_by=ended_by,
        state=_state(starts_at, ends_at, now),
        superseded_by=successor.pk if successor is not None else None,
    )


def _start_of(day: date) -> datetime:
    """The first instant of `day` in the agency's time zone (as `access.end_of` counts)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def _emergency_basis(grant: EmergencyAccess, labels: dict[str, str], now: datetime) -> Basis:
    return Basis(
        kind=Basis.EMERGENCY,
        pk=grant.pk,
        recipient=grant.organization.name,
        covers=_covers(access.EMERGENCY_DATA, labels),
        purpose=grant.reason,
        starts=grant.granted_at,
        starts_at=grant.granted_at,
        ends=grant.expires_at,
        ends_at=grant.expires_at,
        ended_by=Basis.EXPIRY,
        state=_state(grant.granted_at, grant.expires_at, now),
    )


def _bases(case: Case, now: datetime) -> dict[int, OrganizationAccount]:
    """Every organization with a basis to see the case, with its bases, oldest first.
    Two queries, three when a consent names a program."""
    labels = _data_labels()
    accounts: dict[int, OrganizationAccount] = {}

    def account(organization: PartnerOrganization) -> OrganizationAccount:
        if organization.pk not in accounts:
            accounts[organization.pk] = OrganizationAccount(organization.pk, organization.name)
        return accounts[organization.pk]

    consents = list(
        Consent.objects.filter(case=case)
        .select_related("organization", "program", "superseded_by")
        .order_by("starts_on", "recorded_at", "pk")
    )
    programs = [c for c in consents if c.program_id is not None]
    serving: list[PartnerOrganization] = []
    if programs:
        codes = {c.program.code for c in programs}
        # A coarse filter in the database (a JSON list has no portable "contains"), the
        # exact one here.
        roughly = Q()
        for code in codes:
            roughly |= Q(programs_served__icontains=code)
        serving = list(PartnerOrganization.objects.filter(roughly).order_by("name", "pk"))
    for consent in consents:
        basis = _consent_basis(consent, labels, now)
        if consent.organization_id is not None:
            account(consent.organization).bases.append(basis)
            continue
        for organization in serving:
            if consent.program.code in (organization.programs_served or []):
                account(organization).bases.append(basis)
    grants = EmergencyAccess.objects.filter(case=case).select_related("organization")
    for grant in grants.order_by("granted_at", "pk"):
        account(grant.organization).bases.append(_emergency_basis(grant, labels, now))
    for item in accounts.values():
        item.bases.sort(key=lambda basis: (basis.starts_at, basis.kind, basis.pk))
    return accounts


def _disclosing_events(case: Case) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case=case, by_partner=True, verb__in=DISCLOSING_VERBS)


def _file_names(case: Case) -> dict[int, str]:
    """The full names of the case's files (a download's event keeps 80 characters)."""
    return dict(Attachment.objects.filter(case=case).order_by().values_list("pk", "original_name"))


def _what(event: CaseEvent, file_names: dict[int, str]) -> str:
    data = event.data or {}
    if event.verb == Verb.DOWNLOADED:
        return file_names.get(data.get("record_id"), data.get("title", "")) or "A file"
    tab = data.get("tab")
    if not tab:
        return "Case page"
    kind = KINDS.get(tab)
    return f"{kind.label} tab" if kind else f"{tab} tab"


def _disclosure(event: CaseEvent, file_names: dict[int, str]) -> Disclosure:
    agent = display_name(event.actor) if event.actor is not None else "Deleted user"
    return Disclosure(
        at=event.created_at, verb=event.verb, agent=agent, what=_what(event, file_names)
    )


def _ordered(accounts: dict[int | None, OrganizationAccount]) -> list[OrganizationAccount]:
    """By name; events of users with no organization on record last."""
    return sorted(
        accounts.values(), key=lambda a: (a.organization_id is None, a.name.casefold(), a.name)
    )


def case_accounting(
    *, case: Case, limit: int = PAGE_LIMIT, now: datetime | None = None
) -> list[OrganizationAccount]:
    """Each organization's bases (their state at `now`) and its newest `limit` disclosures,
    by organization name. Six queries whatever the number of events."""
    accounts: dict[int | None, OrganizationAccount] = dict(_bases(case, now or clock.now()))
    events = _disclosing_events(case)
    counts = events.order_by().values(f"{ORGANIZATION}_id").annotate(n=Count("pk"))
    count_of = {row[f"{ORGANIZATION}_id"]: row["n"] for row in counts}
    if not count_of:
        return _ordered(accounts)
    newest = (
        events.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F(f"{ORGANIZATION}_id")],
                order_by=[F("created_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank__lte=limit)
        .select_related(ORGANIZATION)
        .order_by("-created_at", "-pk")
    )
    file_names = _file_names(case)
    for event in newest:
        organization = _organization_of(event)
        key = organization.pk if organization is not None else None
        if key not in accounts:
            name = organization.name if organization is not None else UNKNOWN_ORGANIZATION
            accounts[key] = OrganizationAccount(key, name)
        accounts[key].disclosures.append(_disclosure(event, file_names))
    for key, account in accounts.items():
        account.disclosure_count = count_of.get(key, 0)
    return _ordered(accounts)


def _organization_of(event: CaseEvent) -> PartnerOrganization | None:
    agent = getattr(event.actor, "partner_agent", None) if event.actor is not None else None
    return agent.organization if agent is not None else None


# The CSV: every basis and every disclosure -------------------------------------------------


def _stamp(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    return value.isoformat()


def basis_detail(basis: Basis) -> str:
    """What a basis was, on one line (the CSV's Detail)."""
    parts = [basis.label]
    if basis.kind == Basis.CONSENT:
        parts.append(f"for {basis.recipient}")
    parts.append(f"covers {', '.join(basis.covers)}")
    parts.append(f"{'reason' if basis.kind == Basis.EMERGENCY else 'purpose'}: {basis.purpose}")
    parts.append(f"ends by: {basis.end_text.lower()}")
    return "; ".join(parts)


def csv_rows(*, case: Case) -> Iterator[list[str]]:
    """The header, then for each organization (by name) its bases and all its disclosures,
    newest first. The disclosures are streamed from one query, in the organizations'
    order, so the file never sits in memory whole. Five queries."""
    accounts: dict[int | None, OrganizationAccount] = dict(_bases(case, clock.now()))
    events = _disclosing_events(case)
    for row in (
        events.order_by()
        .values(f"{ORGANIZATION}_id", f"{ORGANIZATION}__name")
        .annotate(n=Count("pk"))
    ):
        key = row[f"{ORGANIZATION}_id"]
        if key not in accounts:
            accounts[key] = OrganizationAccount(
                key, row[f"{ORGANIZATION}__name"] or UNKNOWN_ORGANIZATION
            )
        accounts[key].disclosure_count = row["n"]
    ordered = _ordered(accounts)
    yield CSV_HEADER
    # The events in the organizations' order (by name here, not the database's collation);
    # those of no organization on record are last, as that account is.
    positions = [
        When(**{f"{ORGANIZATION}_id": account.organization_id}, then=Value(i))
        for i, account in enumerate(ordered)
        if account.organization_id is not None
    ]
    position = Switch(*positions, default=Value(len(positions))) if positions else Value(0)
    stream = (
        events.annotate(position=position)
        .order_by("position", "-created_at", "-pk")
        .values_list(
            "position",
            "verb",
            "data",
            "created_at",
            "actor__first_name",
            "actor__last_name",
            "actor__username",
        )
        .iterator(chunk_size=2000)
    )
    file_names = _file_names(case)
    pending = next(stream, None)
    for index, account in enumerate(ordered):
        for basis in account.bases:
            yield [
                account.name,
                basis.label if basis.kind == Basis.EMERGENCY else "Consent",
                basis_detail(basis),
                _stamp(basis.starts),
                _stamp(basis.ends),
                "",
            ]
        while pending is not None and pending[0] == index:
            _, verb, data, at, first, last, username = pending
            event = CaseEvent(verb=verb, data=data)
            agent = name_of(first or "", last or "", username or "") or "Deleted user"
            yield [
                account.name,
                "Downloaded" if verb == Verb.DOWNLOADED else "Viewed",
                _what(event, file_names),
                "",
                _stamp(at),
                agent,
            ]
            pending = next(stream, None)
