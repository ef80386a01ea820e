"""The one visibility rule of the Partner Portal, and the only code that decides it.

A partner user sees a case, a tab, a record or a file only while all three hold:

1. **membership**: the agent is on the Case Team (a partner manager: one of the
   organization's agents is, or the referral waits in its intake queue);
2. **the object permission**: guardian grants it (`cases.permissions`);
3. **a legal basis**: a consent in force (not revoked, not superseded, started, not ended)
   that covers the organization (itself, or every partner of a program it serves) and that
   data, or an emergency access (break-glass) that has not lapsed.

Consent narrows what the Case Team's ticks allow; it never widens them. The portal pages,
downloads, live updates, exports and the API all take their answer from here: the case
selectors call `disclosure_of` (the consents themselves, read on every request, so that an
expiry or a revocation takes effect on the partner's next request whether the periodic job
has run or not) and `listed` (My Cases' filter on `CaseTeamMember.access_until`, the copy of
the basis that the services keep in the transaction that changes it).
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Aggregate, Exists, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import JSONObject
from django.utils import timezone

from casesite import clock
from partners.models import PartnerOrganization

from .models import AccessEnd, Consent, EmergencyAccess
from .records import RECORD_KINDS

if TYPE_CHECKING:
    from .models import Case

DETAILS = Consent.DETAILS
SUBSTANCE_USE = Consent.SUBSTANCE_USE
RECORD_DATA = frozenset(kind.slug for kind in RECORD_KINDS)
# Emergency access opens the case and its tabs as the Case Team allows, never the
# substance-use records: 42 CFR Part 2 asks for the patient's written consent.
EMERGENCY_DATA = frozenset({DETAILS, *RECORD_DATA})

REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, "
    "or testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, except "
    "as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance with 42 CFR "
    "2.64 or 2.65. In addition, the Federal rules prohibit you from making any other use or "
    "disclosure of this record unless at least one of the following applies: further use or "
    "disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or is otherwise permitted by 42 CFR part "
    "2; you are a covered entity or business associate and have received the record for "
    "treatment, payment, or health care operations; or you have received the record from a "
    "covered entity or business associate as permitted by 45 CFR part 164, subparts A and E. "
    "A general authorization for the release of medical or other information is NOT "
    "sufficient to meet the required elements of written consent to further use or "
    "redisclose the record (see 42 CFR 2.31)."
)


def _id(value: "PartnerOrganization | Case | int") -> int:
    """The primary key of a model instance, or the id itself."""
    return value if isinstance(value, int) else int(value.pk)


def end_of(day: date) -> datetime:
    """The first instant after `day` in the agency's time zone: a consent that ends on a
    day covers all of that day."""
    return datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=timezone.get_default_timezone()
    )


@dataclass(frozen=True)
class Disclosure:
    """What one partner organization may be shown of one case now, and why."""

    data: frozenset[str] = frozenset()
    until: datetime | None = None  # when the last basis in force ends
    end: str = ""  # an AccessEnd value: what ends it at `until`
    consent_ids: tuple[int, ...] = ()
    emergency: bool = False

    @property
    def open(self) -> bool:
        """May the organization see the case at all? Every consent covers the details."""
        return DETAILS in self.data

    def covers(self, data: str) -> bool:
        return data in self.data

    @property
    def substance_use(self) -> bool:
        return SUBSTANCE_USE in self.data

    def tabs(self, tabs: Iterable[str]) -> list[str]:
        """The Case Team's tabs that this basis covers (never more)."""
        return [tab for tab in tabs if tab in self.data] if self.open else []


CLOSED = Disclosure()


def consents_in_force(*, now: datetime | None = None) -> QuerySet[Consent]:
    """Consents that count today: not revoked, not superseded, started and not ended."""
    today = timezone.localdate(now or clock.now())
    return Consent.objects.filter(
        revoked_at__isnull=True,
        superseded_by__isnull=True,
        starts_on__lte=today,
        ends_on__gte=today,
    )


def emergency_in_force(*, now: datetime | None = None) -> QuerySet[EmergencyAccess]:
    now = now or clock.now()
    return EmergencyAccess.objects.filter(granted_at__lte=now, expires_at__gt=now)


def disclosures(
    *,
    pairs: Iterable[tuple[int, PartnerOrganization | int]],
    now: datetime | None = None,
) -> dict[tuple[int, int], Disclosure]:
    """The disclosure of each (case id, organization or its id) pair, keyed by (case id,
    organization id); two queries whatever the number of pairs (three when a consent names
    a program and an organization was given by id)."""
    now = now or clock.now()
    wanted = list(pairs)
    if not wanted:
        return {}
    case_ids = {case_id for case_id, _ in wanted}
    organization_ids = {_id(o) for _, o in wanted}
    consents = list(
        consents_in_force(now=now)
        .filter(case_id__in=case_ids)
        .filter(Q(organization_id__in=organization_ids) | Q(program__isnull=False))
        .values_list(
            "pk", "case_id", "organization_id", "program_id", "program__code", "data", "ends_on"
        )
    )
    emergencies = list(
        emergency_in_force(now=now)
        .filter(case_id__in=case_ids, organization_id__in=organization_ids)
        .values_list("case_id", "organization_id", "expires_at")
    )
    organizations: dict[int, PartnerOrganization] = {
        o.pk: o for _, o in wanted if isinstance(o, PartnerOrganization)
    }
    missing = organization_ids - set(organizations)
    if missing and any(program_id for _, _, _, program_id, *_ in consents):
        organizations.update((o.pk, o) for o in PartnerOrganization.objects.filter(pk__in=missing))
    result: dict[tuple[int, int], Disclosure] = {}
    for case_id, given in wanted:
        organization_id = _id(given)
        organization = organizations.get(organization_id)
        result[case_id, organization_id] = _combine(
            consents=[
                Basis(pk, c_org, code, c_data or [], ends_on)
                for pk, c_case, c_org, _, code, c_data, ends_on in consents
                if c_case == case_id
            ],
            emergencies=[
                at
                for e_case, e_org, at in emergencies
                if (e_case, e_org) == (case_id, organization_id)
            ],
            organization_id=organization_id,
            programs_served=organization.programs_served if organization else [],
        )
    return result


@dataclass(frozen=True)
class Basis:
    """One consent in force, as the rule reads it."""

    pk: int
    organization_id: int | None
    program_code: str | None
    data: list[str]
    ends_on: date


def _combine(
    *,
    consents: list[Basis],
    emergencies: list[datetime],
    organization_id: int,
    programs_served: list[str] | None,
) -> Disclosure:
    """The rule itself, over the case's consents in force and the organization's emergency
    accesses in force: the union of what the consents that cover the organization cover,
    open until the last of them ends."""
    data: set[str] = set()
    ends: list[tuple[datetime, str]] = []
    ids: list[int] = []
    for consent in consents:
        if consent.organization_id is not None:
            if consent.organization_id != organization_id:
                continue
        elif consent.program_code not in (programs_served or []):
            continue
        data.update(consent.data)
        ends.append((end_of(consent.ends_on), AccessEnd.EXPIRED))
        ids.append(consent.pk)
    for expires_at in emergencies:
        data.update(EMERGENCY_DATA)
        ends.append((expires_at, AccessEnd.EMERGENCY))
    if DETAILS not in data:
        return CLOSED
    until, end = max(ends)
    return Disclosure(
        data=frozenset(data),
        until=until,
        end=end,
        consent_ids=tuple(sorted(ids)),
        emergency=bool(emergencies),
    )


# The same rule read inside the case page's own query ---------------------------------------


class _JSONRows(Aggregate):
    """The grouped rows of a subquery as one JSON array (decoded by `_json`)."""

    function = "JSON_GROUP_ARRAY"
    output_field = TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="JSONB_AGG", **extra)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def annotations(*, organization_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Scalar subqueries to annotate a `Case` query with, so that the page that looks the
    case up reads the partner's basis in the same round trip (`disclosure_in_row`)."""
    now = now or clock.now()
    consents = (
        consents_in_force(now=now)
        .filter(case=OuterRef("pk"))
        .filter(Q(organization_id=organization_id) | Q(program__isnull=False))
        .values("case")
        .annotate(
            rows=_JSONRows(
                JSONObject(pk="pk", o="organization_id", p="program__code", d="data", e="ends_on")
            )
        )
        .values("rows")
    )
    emergencies = (
        emergency_in_force(now=now)
        .filter(case=OuterRef("pk"), organization_id=organization_id)
        .values("case")
        .annotate(rows=_JSONRows("expires_at"))
        .values("rows")
    )
    programs = PartnerOrganization.objects.filter(pk=organization_id).values("programs_served")
    return {
        "basis_consents": Subquery(consents, output_field=TextField()),
        "basis_emergencies": Subquery(emergencies, output_field=TextField()),
        "basis_programs": Subquery(programs, output_field=TextField()),
    }


def disclosure_in_row(case: "Case", *, organization_id: int) -> Disclosure:
    """The disclosure from a case row annotated with `annotations`."""
    consents = [
        Basis(
            pk=row["pk"],
            organization_id=row["o"],
            program_code=row["p"],
            data=_json(row["d"]) or [],
            ends_on=date.fromisoformat(row["e"]),
        )
        for row in _json(getattr(case, "basis_consents", None)) or []
    ]
    emergencies = [_moment(at) for at in _json(getattr(case, "basis_emergencies", None)) or []]
    return _combine(
        consents=consents,
        emergencies=emergencies,
        organization_id=organization_id,
        programs_served=_json(getattr(case, "basis_programs", None)) or [],
    )


def disclosure_of(
    *, case: "Case | int", organization: PartnerOrganization | int, now: datetime | None = None
) -> Disclosure:
    """What `organization` may be shown of `case` now (CLOSED: nothing)."""
    case_id = _id(case)
    return disclosures(pairs=[(case_id, organization)], now=now)[case_id, _id(organization)]


def in_force_for(organization: PartnerOrganization, *, now: datetime | None = None) -> Q:
    """A filter on rows with a `case` (referrals) that keeps those whose case has a basis
    in force for `organization`: the intake queue, which has no membership to read."""
    now = now or clock.now()
    consents = consents_in_force(now=now).filter(case=OuterRef("case_id"))
    named = consents.filter(organization_id=organization.pk)
    program = consents.filter(program__code__in=list(organization.programs_served or []))
    emergency = emergency_in_force(now=now).filter(
        case=OuterRef("case_id"), organization_id=organization.pk
    )
    return Q(Exists(named)) | Q(Exists(program)) | Q(Exists(emergency))


def listed(*, now: datetime | None = None) -> Q:
    """The filter of a partner's listing on `CaseTeamMember`: active, and its basis not
    ended (the copy of the consents kept on the row by the services)."""
    return Q(is_active=True, access_until__gt=now or clock.now())


def records(queryset: QuerySet[Any], disclosure: Disclosure) -> QuerySet[Any]:
    """A tab's shared records as the disclosure narrows them: substance-use records only
    under a consent that covers them."""
    if not disclosure.open:
        return queryset.none()
    if not disclosure.substance_use:
        queryset = queryset.filter(substance_use=False)
    return queryset
