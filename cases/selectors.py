"""Every read of cases for a user goes through a function here. Each returns a queryset
already limited to what that user may see; views look objects up inside it (not yours is
404, never fetched first and checked after).

Listings are plain indexed queries on case team membership. They never use guardian's
`get_objects_for_user` (a scan of the permission table); tests keep the two in agreement.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Exists,
    F,
    FilteredRelation,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.http import Http404
from django.utils import timezone
from guardian.core import ObjectPermissionChecker

from accounts.roles import Role, is_agency_user
from partners.calendar import BusinessCalendar
from partners.models import PartnerAgent, PartnerOrganization

from . import access, permissions
from .models import (
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Consent,
    EmergencyAccess,
    Program,
    Referral,
)
from .records import KINDS

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models.expressions import Combinable

    from .models import Activity, Attachment, CaseRecord, Note, ServiceRequest

State = Referral.State

_M = TypeVar("_M", bound=Model)


# Partner Portal ----------------------------------------------------------------------------


def partner_agent_of(user: "User") -> PartnerAgent | None:
    return cast("PartnerAgent | None", getattr(user, "partner_agent", None))


def memberships_for_partner(
    *, user: "User", now: datetime | None = None
) -> QuerySet[CaseTeamMember]:
    """My Cases rows: the user's active case team memberships whose consent (or emergency
    access) has not ended (`access.listed`), newest assignment first.

    A partner manager also gets every such assignment of their organization's agents."""
    agent = partner_agent_of(user)
    if agent is None or not user.is_active:
        return CaseTeamMember.objects.none()
    scope = Q(organization_id=agent.organization_id) if agent.is_manager else Q(user=user)
    return (
        CaseTeamMember.objects.filter(scope, access.listed(now=now))
        .select_related("case", "case__program", "user")
        .order_by("-added_at", "-pk")
    )


def cases_for_partner_agent(*, user: "User") -> QuerySet[Case]:
    """Cases the partner user may open: on the team (agent), or assigned to one of the
    organization's agents (partner manager)."""
    agent = partner_agent_of(user)
    if agent is None or not user.is_active:
        return cast("QuerySet[Case]", Case.objects.none())
    listed = access.listed()
    if agent.is_manager:
        membership = CaseTeamMember.objects.filter(
            listed, case=OuterRef("pk"), organization_id=agent.organization_id
        )
        intake = Referral.objects.filter(
            case=OuterRef("pk"),
            organization_id=agent.organization_id,
            agent__isnull=True,
            state=State.PENDING,
        )
        visible = Q(Exists(membership)) | Q(Exists(intake))
    else:
        membership = CaseTeamMember.objects.filter(listed, case=OuterRef("pk"), user=user)
        visible = Q(Exists(membership))
    # Internal fields are not even loaded: no portal page or file can show them by mistake.
    return cast(
        "QuerySet[Case]",
        Case.objects.filter(visible).select_related("program").defer(*Case.INTERNAL_FIELDS),
    )


def partner_case_or_404(
    *, user: "User", pk: int, with_membership: bool = False, **annotations: "Combinable"
) -> tuple[Case, ObjectPermissionChecker]:
    """The case, if this partner user may see it, and a permission checker primed for it.

    Both the team-based selector and guardian's `view_case` must agree, else 404.
    `with_membership` brings the user's own active team membership along in the same query
    as `case.membership` (None for a partner manager who is not on the team); `annotations`
    are added to that query too. Neither can widen what the user may see."""
    cases = cases_for_partner_agent(user=user)
    agent = partner_agent_of(user)
    if agent is None:
        raise Http404
    # The partner's basis (consents, emergency access) rides on the case's own query.
    annotations = {**annotations, **access.annotations(organization_id=agent.organization_id)}
    if with_membership:
        own = FilteredRelation("team", condition=Q(team__user=user, team__is_active=True))
        cases = cases.annotate(membership=own).select_related(
            "membership__referral"  # type: ignore[misc]  # stubs miss FilteredRelation aliases
        )
    case = cases.annotate(**annotations).filter(pk=pk).first()
    if case is None:
        raise Http404
    if with_membership and not hasattr(case, "membership"):
        # no row joined: not on the team
        case.membership = None  # type: ignore[attr-defined]  # FilteredRelation attribute
    checker = ObjectPermissionChecker(user)
    if not checker.has_perm("view_case", case):
        raise Http404
    # The consents themselves, now: an expiry or a revocation closes the case at once.
    disclosure = access.disclosure_in_row(case, organization_id=agent.organization_id)
    if not disclosure.open:
        raise Http404
    case.disclosure = disclosure  # type: ignore[attr-defined]  # read by visible_tabs, records
    return case, checker


def organization_works_case(*, user: "User") -> Exists:
    """Is one of the partner user's organization's referrals of the case accepted or in
    progress (so that its partner manager may record work on it)? An expression to annotate
    the case's query with."""
    agent = partner_agent_of(user)
    return Exists(
        Referral.objects.filter(
            case=OuterRef("pk"),
            organization_id=agent.organization_id if agent else None,
            state__in=Referral.WORKING_STATES,
        )
    )


def partner_membership(*, user: "User", case: Case) -> CaseTeamMember | None:
    return CaseTeamMember.objects.filter(case=case, user=user, is_active=True).first()


def disclosure_of_case(case: Case) -> access.Disclosure:
    """The disclosure `partner_case_or_404` found for the case (CLOSED for any other)."""
    return cast(access.Disclosure, getattr(case, "disclosure", access.CLOSED))


def visible_tabs(
    *, user: "User", case: Case, checker: ObjectPermissionChecker | None = None
) -> list[permissions.CaseTab]:
    """The tabs the user may open: granted (guardian) and covered by the consent."""
    disclosure = disclosure_of_case(case)
    return [
        tab
        for tab in permissions.visible_tabs(user=user, case=case, checker=checker)
        if disclosure.covers(tab.slug)
    ]


def partner_tab_or_404(
    *, user: "User", case: Case, tab: str, checker: ObjectPermissionChecker
) -> permissions.CaseTab:
    """The tab if granted; a tab not granted is 404, like a missing one."""
    for candidate in visible_tabs(user=user, case=case, checker=checker):
        if candidate.slug == tab:
            return candidate
    raise Http404


def records_for_partner(*, user: "User", case: Case, kind: str) -> "QuerySet[CaseRecord]":
    """Records of one tab that a partner may see: shared with partners, and as the
    case's disclosure (from `partner_case_or_404`) narrows them."""
    shared = (
        cast("type[Activity | Attachment | ServiceRequest | Note]", KINDS[kind].model)
        .objects.filter(case=case, shared_with_partners=True)
        .select_related("author")
        .order_by("-created_at", "-pk")
    )
    return access.records(shared, disclosure_of_case(case))


def partner_record_or_404(*, user: "User", case: Case, kind: str, pk: int) -> "CaseRecord":
    record = records_for_partner(user=user, case=case, kind=kind).filter(pk=pk).first()
    if record is None:
        raise Http404
    return record


def new_case_count(*, user: "User") -> int:
    agent = partner_agent_of(user)
    if agent is None:
        return 0
    return CaseTeamMember.objects.filter(access.listed(), user=user, seen_at__isnull=True).count()


# Agency ------------------------------------------------------------------------------------


def cases_for_agency(*, user: "User") -> QuerySet[Case]:
    """Agency staff see every case; anybody else sees none."""
    if not is_agency_user(user):
        return cast("QuerySet[Case]", Case.objects.none())
    return cast("QuerySet[Case]", Case.objects.select_related("program", "owner"))


AGENCY_SORTS = {
    "number": "number",
    "name": "name",
    "program": "program__name",
    "status": "status",
    "priority": "priority",
    "owner": "owner__username",
    "created": "created_at",
    "updated": "updated_at",
}


def agency_case_list(
    *,
    user: "User",
    query: str = "",
    status: str = "",
    program: str = "",
    partner: str = "",
    owner: str = "",
    pending_only: bool = False,
    sort: str = "-updated",
) -> QuerySet[Case]:
    """The Cases List: search by number, Case Name or applicant; filters; one sort."""
    cases = cases_for_agency(user=user)
    if query:
        cases = cases.filter(
            Q(number__icontains=query)
            | Q(name__icontains=query)
            | Q(applicant_name__icontains=query)
        )
    if status:
        cases = cases.filter(status=status)
    if program:
        cases = cases.filter(program__code=program)
    if partner:
        cases = cases.filter(
            Exists(
                CasePartner.objects.filter(  # type: ignore[misc]  # Django casts id strings
                    case=OuterRef("pk"), is_primary=True, partner_id=partner
                )
            )
        )
    if owner:
        cases = cases.filter(owner_id=owner)  # type: ignore[misc]  # Django casts id strings
    if pending_only:
        cases = cases.filter(
            status=Case.Status.THIRD_PARTY,
            pk__in=CaseTeamMember.objects.filter(
                is_active=True, referral_state=State.PENDING
            ).values("case_id"),
        )
    descending = sort.startswith("-")
    field = AGENCY_SORTS.get(sort.lstrip("-"), "updated_at")
    return cases.order_by(f"{'-' if descending else ''}{field}", "-pk")


def agency_case_or_404(*, user: "User", pk: int) -> Case:
    case = cases_for_agency(user=user).filter(pk=pk).first()
    if case is None:
        raise Http404
    return case


def case_partners(*, case: Case) -> QuerySet[CasePartner]:
    return case.case_partners.select_related("partner", "added_by").order_by("added_at", "pk")


def case_team(*, case: Case) -> QuerySet[CaseTeamMember]:
    return (
        case.team.select_related("user", "organization", "added_by", "referral__organization")
        .prefetch_related("referral__organization__closures")
        .order_by("-is_active", "added_at", "pk")
    )


def case_referrals(*, case: Case) -> QuerySet[Referral]:
    """Every referral of the case, newest first: who, state, due, outcome, what it replaced."""
    return (
        case.referrals.select_related("organization", "agent", "requested_by", "replaces__agent")
        .prefetch_related("organization__closures")
        .order_by("-requested_at", "-pk")
    )


def case_current_referral(*, case: Case) -> Referral | None:
    """The referral the case header shows: the open one due first, else the newest."""
    referrals = case.referrals.select_related("organization", "agent").prefetch_related(
        "organization__closures"
    )
    open_ = referrals.filter(state__in=Referral.OPEN_STATES).order_by("due_at", "pk").first()
    return open_ or referrals.order_by("-requested_at", "-pk").first()


@dataclass(frozen=True)
class Timing:
    """When a referral is due, as people say it: "due in 5 business hours", "overdue by
    1 day", "review on Jan 5"."""

    text: str
    overdue: bool = False
    due_at: datetime | None = None


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 1:
        minutes = max(1, round(delta.total_seconds() / 60))
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if hours < 24:
        whole = round(hours)
        return f"{whole} hour{'s' if whole != 1 else ''}"
    days = round(hours / 24)
    return f"{days} day{'s' if days != 1 else ''}"


def referral_timing(*, referral: Referral, now: datetime | None = None) -> Timing | None:
    """The deadline of an open referral: a pending one's answer (in the receiving
    organization's business hours while it is not yet due), a waitlisted one's review
    date. None for a referral that is being worked or has ended."""
    now = now or timezone.now()
    if referral.state == Referral.State.WAITLISTED:
        if cast(datetime, referral.review_at) <= now:
            return Timing(
                f"review overdue by {_span(now - cast(datetime, referral.review_at))}",
                True,
                referral.review_at,
            )
        when = timezone.localtime(referral.review_at)
        return Timing(f"review on {when:%b %-d, %Y}", False, referral.review_at)
    if referral.state != Referral.State.PENDING:
        return None
    if cast(datetime, referral.due_at) <= now:
        return Timing(
            f"overdue by {_span(now - cast(datetime, referral.due_at))}", True, referral.due_at
        )
    calendar = BusinessCalendar.for_organization(referral.organization)
    hours = calendar.business_hours_between(now, cast(datetime, referral.due_at))
    if hours < 1:
        minutes = max(1, round(hours * 60))
        return Timing(
            f"due in {minutes} business minute{'s' if minutes != 1 else ''}", False, referral.due_at
        )
    whole = round(hours)
    return Timing(
        f"due in {whole} business hour{'s' if whole != 1 else ''}", False, referral.due_at
    )


def case_records(*, case: Case, kind: str) -> "QuerySet[CaseRecord]":
    return (
        cast("type[Activity | Attachment | ServiceRequest | Note]", KINDS[kind].model)
        .objects.filter(case=case)
        .select_related("author")
        .order_by("-created_at", "-pk")
    )


def case_events(*, case: Case) -> QuerySet[CaseEvent]:
    return case.events.select_related("actor").order_by("-created_at", "-pk")


# Agency workspace: list rows, choices, the Referrals board, live oversight -----------------


def agency_case_rows(*, user: "User", **filters: Any) -> QuerySet[Case]:
    """Cases List rows: `agency_case_list` plus the Primary partner's name and whether a
    referral waits for an answer (correlated subqueries: no query per row)."""
    primary = CasePartner.objects.filter(case=OuterRef("pk"), is_primary=True)
    pending = CaseTeamMember.objects.filter(
        case=OuterRef("pk"), is_active=True, referral_state=State.PENDING
    ).annotate(flag=Value(True))
    # A scalar subquery rather than EXISTS: for an EXISTS, PostgreSQL weighs hashing every
    # pending referral once against a lookup per row, and with a million cases to sort
    # (before the LIMIT) it hashes all of them, for the 25 rows of the page.
    return agency_case_list(user=user, **filters).annotate(
        primary_partner_name=Subquery(primary.values("partner__name")[:1]),
        has_pending_referral=Coalesce(
            Subquery(pending.values("flag")[:1], output_field=BooleanField()), Value(False)
        ),
    )


def programs() -> QuerySet[Program]:
    return Program.objects.order_by("name")


def partner_organizations() -> QuerySet[PartnerOrganization]:
    return PartnerOrganization.objects.order_by("name")


def agency_staff() -> QuerySet["User"]:
    """Active agency users (owners, Case Team members): agency groups or superusers, never
    a partner user."""
    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name__in=Role.AGENCY), is_active=True)
        .filter(partner_agent__isnull=True)
        .exclude(groups__name__in=Role.PARTNER)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def partner_choices(*, case: Case, query: str = "") -> QuerySet[PartnerOrganization]:
    """Predefined, active partner organizations not yet associated with the case."""
    organizations = PartnerOrganization.objects.filter(active=True).exclude(case_links__case=case)
    if query:
        organizations = organizations.filter(name__icontains=query)
    return organizations.order_by("name")


# Words of a Case Team search that count; more would only lengthen the query.
TEAM_QUERY_WORDS = 5


def _on_team(case: Case) -> QuerySet[CaseTeamMember, Mapping[str, object]]:
    return CaseTeamMember.objects.filter(case=case, is_active=True).values("user_id")


def _eligible_agents(*, case: Case, query: str = "") -> QuerySet[PartnerAgent]:
    """Agents of active partner organizations, with an active account, not on the Case Team
    now; `query` keeps those with every word of it in a first or last name, user name or
    organization name."""
    agents = PartnerAgent.objects.filter(organization__active=True, user__is_active=True).exclude(
        user_id__in=_on_team(case)
    )
    for word in query.split()[:TEAM_QUERY_WORDS]:
        agents = agents.filter(
            Q(user__first_name__icontains=word)
            | Q(user__last_name__icontains=word)
            | Q(user__username__icontains=word)
            | Q(organization__name__icontains=word)
        )
    return agents


def team_candidates(
    *, case: Case, query: str = "", limit: int | None = None, case_partners_only: bool = False
) -> tuple[QuerySet["User"], QuerySet[PartnerAgent]]:
    """Who may join the Case Team: agency staff, and agents of active partner
    organizations, who are not on it now. Returns (users, partner agents).

    The agents may be narrowed to those matching `query` (see `_eligible_agents`), to the
    agents of the organizations associated with the case, and to the first `limit` by
    organization and name; the staff are always all of them."""
    agents = _eligible_agents(case=case, query=query)
    if case_partners_only:
        agents = agents.filter(organization_id__in=case.case_partners.values("partner_id"))
    agents = agents.select_related("user", "organization").order_by(
        "organization__name", "user__first_name", "user__last_name", "user__username"
    )
    if limit is not None:
        agents = agents[:limit]
    return agency_staff().exclude(pk__in=_on_team(case)), agents


def team_candidate_count(*, case: Case, query: str = "") -> int:
    """How many partner agents may join the Case Team (matching `query`): one COUNT."""
    return _eligible_agents(case=case, query=query).count()


def team_candidate(*, case: Case, user_id: int) -> "User | None":
    """The user with this id if they may join the Case Team now (as `team_candidates`
    would list them, whatever was displayed), with their partner agent profile and its
    organization when they have one; else None. One query."""
    return (
        get_user_model()
        .objects.filter(pk=user_id)
        .filter(
            Q(pk__in=agency_staff().values("pk"))
            | Q(partner_agent__in=_eligible_agents(case=case).values("pk"))
        )
        .exclude(pk__in=_on_team(case))
        .select_related("partner_agent__organization")
        .first()
    )


REFERRAL_BOARD_STATES = (
    "pending",
    "overdue",
    "accepted",
    "in_progress",
    "waitlisted",
    "escalated",
    "completed_week",
    "unassigned",
)


def _board_annotations(qs: QuerySet[_M], case_ref: str) -> QuerySet[_M]:
    """The columns the board computes for its page's rows only: the Primary partner, and the
    case's last partner action with who took it (from the event trail)."""
    partner_events = CaseEvent.objects.filter(case=OuterRef(case_ref), by_partner=True).order_by(
        "-created_at", "-pk"
    )
    actor_name = Coalesce(
        NullIf(Trim(Concat("actor__first_name", Value(" "), "actor__last_name")), Value("")),
        "actor__username",
    )
    primary = CasePartner.objects.filter(case=OuterRef(case_ref), is_primary=True)
    return cast(
        "QuerySet[_M]",
        qs.annotate(
            primary_partner_name=Subquery(primary.values("partner__name")[:1]),
            last_partner_action_at=Subquery(partner_events.values("created_at")[:1]),
            last_partner_verb=Subquery(partner_events.values("verb")[:1]),
            last_partner_actor=Subquery(
                partner_events.annotate(name=actor_name).values("name")[:1]
            ),
        ),
    )


def agency_referral_board(*, user: "User", state: str = "") -> QuerySet[Referral]:
    """Referrals for the Referrals board, one row per referral, each with its case, its
    organization (and closures, for business-hour due times) and agent.

    Without a state: every open referral, the most pressing first (a pending referral's
    answer or a waitlisted one's review, `attention_at`), then those being worked, longest
    first. Every list is read in order from a partial index (`referral_board`,
    `referral_worked`, `referral_with_owner`, `referral_completed_at`) and counted from a
    partial index (`referral_open_state` for the open ones), with no join: a page costs
    about the same at a million cases as at ten. "unassigned" is a list of cases:
    `agency_cases_without_partner_agent`."""
    if not is_agency_user(user):
        return cast("QuerySet[Referral]", Referral.objects.none())
    now = timezone.now()
    referrals: QuerySet[Referral] = Referral.objects.select_related(
        "case", "organization", "agent"
    ).prefetch_related("organization__closures")
    by_attention = (F("attention_at").asc(nulls_last=True), "requested_at", "pk")
    if state in ("", "pending", "waitlisted"):
        states = [state] if state else list(Referral.OPEN_STATES)
        referrals = referrals.filter(state__in=states).order_by(*by_attention)
    elif state in ("accepted", "in_progress"):
        # Worked referrals have no date to watch: longest first.
        referrals = referrals.filter(state=state).order_by("requested_at", "pk")
    elif state == "overdue":
        # A pending answer or a waitlist review that has passed.
        referrals = referrals.filter(
            state__in=[State.PENDING, State.WAITLISTED], attention_at__lte=now
        ).order_by(*by_attention)
    elif state == "escalated":
        # Back with the owner: escalated, and no referral of the case and no close since.
        referrals = referrals.filter(with_owner=True).order_by("escalated_at", "pk")
    elif state == "completed_week":
        week_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        week_start -= timedelta(days=week_start.weekday())
        referrals = referrals.filter(state=State.COMPLETED, completed_at__gte=week_start).order_by(
            "-completed_at", "-pk"
        )
    else:
        return cast("QuerySet[Referral]", Referral.objects.none())
    return _board_annotations(referrals, "case_id")


def agency_cases_without_partner_agent(*, user: "User") -> QuerySet[Case]:
    """Third-Party cases with no partner agent on the Case Team now (never routed, or the
    referral came back), longest first, with their former partner agents newest first
    (prefetched) and the board's per-row columns."""
    members = CaseTeamMember.objects.filter(
        case=OuterRef("pk"), role=CaseTeamMember.Role.PARTNER_AGENT, is_active=True
    )
    agents = (
        CaseTeamMember.objects.filter(role=CaseTeamMember.Role.PARTNER_AGENT)
        .select_related("user", "organization", "referral__organization")
        .prefetch_related("referral__organization__closures")
        .order_by("-added_at", "-pk")
    )
    cases = (
        cases_for_agency(user=user)
        .filter(status=Case.Status.THIRD_PARTY)
        .exclude(Exists(members))
        .select_related(None)
        .only("pk", "number", "name", "status", "status_changed_at")
        .prefetch_related(Prefetch("team", queryset=agents, to_attr="partner_members"))
        .order_by("status_changed_at", "pk")
    )
    return _board_annotations(cases, "pk")


def latest_event_id() -> int:
    """The newest event of any case: the Referrals board's cheap "anything new?" probe."""
    return CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def case_last_event_id(*, user: "User", pk: int) -> int | None:
    """Id of the newest event of a case this user may see; None when there is no such case.

    Live oversight asks this every few seconds, so it is one probe of the (case, -created_at)
    index and nothing else. Events are compared by id: an event committed a moment after a
    newer one is picked up with the next change."""
    if not is_agency_user(user):
        return None
    return (
        CaseEvent.objects.filter(case_id=pk)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )


def case_events_since(*, case: Case, event_id: int) -> QuerySet[CaseEvent]:
    return case_events(case=case).filter(pk__gt=event_id)


def partner_activity(*, case: Case, limit: int = 8) -> list[CaseEvent]:
    """The newest partner work on the case (and the system's referral events, such as an
    expiry), for the live oversight feed."""
    return list(case_events(case=case).filter(Q(by_partner=True) | Q(actor__isnull=True))[:limit])


# Consent and emergency access (agency) -----------------------------------------------------


def case_consents(*, case: Case) -> QuerySet[Consent]:
    """The case's consents, newest recorded first, with whatever the Consent tab shows of
    each (recipient, signed form, who recorded and revoked it, what superseded it)."""
    return case.consents.select_related(
        "organization",
        "program",
        "document",
        "recorded_by",
        "revoked_by",
        "superseded_by",
    ).order_by("-recorded_at", "-pk")


def case_consents_in_force(*, case: Case) -> QuerySet[Consent]:
    """The case's consents that count today: those a new consent may replace."""
    return (
        access.consents_in_force()
        .filter(case=case)
        .select_related("organization", "program")
        .order_by("-recorded_at", "-pk")
    )


def case_emergency_access(*, case: Case) -> QuerySet[EmergencyAccess]:
    """Every emergency access granted on the case, newest first."""
    return case.emergency_access.select_related("organization", "granted_by").order_by(
        "-granted_at", "-pk"
    )


def case_emergency_in_force(*, case: Case) -> QuerySet[EmergencyAccess]:
    """Emergency access to the case that has not lapsed: the case header's banner."""
    return (
        access.emergency_in_force()
        .filter(case=case)
        .select_related("organization")
        .order_by("expires_at", "pk")
    )


def consent_states(
    *, case: Case, organizations: Iterable[PartnerOrganization]
) -> dict[int, access.Disclosure]:
    """What each organization may be shown of the case now (consent, emergency access or
    nothing), by organization id: two queries whatever the number of organizations."""
    found = access.disclosures(pairs=[(case.pk, o) for o in organizations])
    return {organization_id: disclosure for (_, organization_id), disclosure in found.items()}
