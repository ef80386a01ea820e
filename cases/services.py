"""Every write to a case goes through a function here: keyword-only, typed, one
transaction, one `CaseEvent`. Views, forms, admin actions, commands and tasks call these.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django_fsm import (
    ConcurrentTransition,
    TransitionNotAllowed,
    can_proceed,
    has_transition_perm,
)
from guardian.core import ObjectPermissionChecker

from accounts import security
from accounts.models import SecurityEvent
from accounts.people import display_name
from accounts.roles import is_partner_user
from casesite import clock
from partners.calendar import BusinessCalendar
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import organization_managers_group

from . import access, notifications, permissions, signals
from .inbox import services as inbox
from .models import (
    CASE_TRANSITIONS,
    AccessEnd,
    Activity,
    Attachment,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Consent,
    EmergencyAccess,
    InboxItem,
    Program,
    Referral,
    ServiceRequest,
    consent_data_choices,
)
from .records import KINDS, kind_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.contrib.auth.models import User
    from django.core.files.base import File
    from django.db.models import QuerySet
    from django_fsm import Transition

    from .models import CaseRecord, Note, RoutingDecision

    class _StatusTransitions(Protocol):
        """The methods django-fsm's `FSMField` adds to `Case` for its `status` field."""

        def get_all_status_transitions(self) -> Iterator[Transition]: ...

        def get_available_status_transitions(self) -> Iterator[Transition]: ...


State = Referral.State


class ConflictError(Exception):
    """The thing changed under the user's feet (another user acted first): answer 409."""


# Case events that also go to the security log, with the address of the request.
SECURITY_LOGGED: dict[str, str] = {
    CaseEvent.Verb.DOWNLOADED: SecurityEvent.Kind.DOWNLOAD,
    CaseEvent.Verb.TRANSITION: SecurityEvent.Kind.TRANSITION,
    CaseEvent.Verb.EMERGENCY_ACCESS: SecurityEvent.Kind.EMERGENCY_ACCESS,
}


def _event(*, case: Case, actor: User | None, verb: str, **data: Any) -> CaseEvent:
    event = CaseEvent.objects.create(
        case=case,
        actor=actor,
        by_partner=bool(actor is not None and is_partner_user(actor)),
        verb=verb,
        data=data,
    )
    kind = SECURITY_LOGGED.get(verb)
    if kind is not None:
        logged = {key: value for key, value in data.items() if key != "title"}
        security.record(kind, user=actor, case_id=case.pk, **logged)
    return event


def _require_perm(
    actor: User | None, permission: str, message: str = "You may not do that."
) -> None:
    """Where every service checks what its actor may do: agency staff need the model
    permission of their role. The system (no actor) may; a partner's own rights are checked
    by the services that partners call (their referral, their organization). Views keep an
    early 403 only as a courtesy."""
    if actor is not None and not is_partner_user(actor) and not actor.has_perm(permission):
        raise PermissionDenied(message)


def _locked_case(case: Case) -> Case:
    """Re-read the case row with a lock: serializes team and partner changes per case."""
    return cast(Case, Case.objects.select_for_update().get(pk=case.pk))


# Cases -------------------------------------------------------------------------------------

CASE_EDITABLE_FIELDS = (
    "name",
    "program",
    "applicant_name",
    "applicant_phone",
    "applicant_email",
    "region",
    "language",
    "priority",
    "summary",
    "household_income",
    "applicant_identifier",
    "date_of_birth",
    "eligibility_notes",
)


def next_case_number(year: int | None = None) -> str:
    year = year or clock.now().year
    prefix = f"CASE-{year}-"
    last = Case.objects.filter(number__startswith=prefix).aggregate(m=Max("number"))["m"]
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{sequence:06d}"


@transaction.atomic
def case_create(
    *, actor: User, owner: User | None = None, number: str | None = None, **fields: Any
) -> Case:
    """Open a new case; its owner joins the Case Team."""
    _require_perm(actor, "cases.add_case", "You may not open cases.")
    unknown = set(fields) - set(CASE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not case fields: {sorted(unknown)}")
    owner = owner or actor
    for attempt in range(5):
        try:
            with transaction.atomic():
                case: Case = Case.objects.create(
                    number=number or next_case_number(), owner=owner, **fields
                )
            break
        except IntegrityError:
            if number or attempt == 4:
                raise
    CaseTeamMember.objects.create(
        case=case, user=owner, role=CaseTeamMember.Role.OWNER, added_by=actor
    )
    _event(case=case, actor=actor, verb=CaseEvent.Verb.CREATED, number=case.number)
    return case


@transaction.atomic
def case_update(*, actor: User | None, case: Case, **fields: Any) -> Case:
    """Edit the case's fields (not its status)."""
    _require_perm(actor, "cases.change_case", "You may not edit cases.")
    unknown = set(fields) - set(CASE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not editable: {sorted(unknown)}")
    # The current row, locked: a status changed since the caller read the case is kept
    # (a stale copy would fail the FSM's concurrency check on save).
    case = _locked_case(case)
    changed = [name for name, value in fields.items() if getattr(case, name) != value]
    for name in changed:
        setattr(case, name, fields[name])
    if changed:
        case.save(update_fields=[*changed, "updated_at"])
        _event(case=case, actor=actor, verb=CaseEvent.Verb.UPDATED, fields=sorted(changed))
    return case


def available_transitions(*, user: User, case: Case) -> list[tuple[str, str]]:
    """The (name, label) of each transition this user may fire on the case now.

    Same rule as django-fsm's own check (the permission globally or on this case), asked in
    the cheap order: global permissions are cached on the user, and one object permission
    checker serves every transition instead of two queries per transition."""
    checker = ObjectPermissionChecker(user)

    def allowed(permission: str) -> bool:
        return user.has_perm(permission) or checker.has_perm(permission, case)

    names = {
        t.name
        for t in cast("_StatusTransitions", case).get_available_status_transitions()
        if allowed(cast(str, t.permission)) and all(allowed(p) for p in _extra_permissions(t, case))
    }
    return [
        (name, declared["label"]) for name, declared in CASE_TRANSITIONS.items() if name in names
    ]


def _extra_permissions(transition: Transition, case: Case) -> list[str]:
    """Permissions a transition takes on top of its own, from this case's status (declared
    on the transition: `custom={"from_third_party": ...}`)."""
    extra = transition.custom.get("from_third_party")
    return [extra] if extra and case.status == Case.Status.THIRD_PARTY else []


@transaction.atomic
def case_transition(*, actor: User, case: Case, name: str, auto_route: bool = True) -> Case:
    """Fire a status transition by name, checking its permission on the server.

    Referring a case with no partner agent on its team asks the Assignment Manager to
    route it, unless `auto_route` is False (the caller picks the partner by hand next).

    Raises PermissionDenied without the transition's permission, ConflictError when the
    case is not in a state the transition starts from (or changed concurrently)."""
    if name not in CASE_TRANSITIONS:
        raise ValueError(f"Unknown transition {name!r}")
    case = Case.objects.select_for_update().get(pk=case.pk)
    method = getattr(case, name)
    transition = next(
        (
            t
            for t in cast("_StatusTransitions", case).get_all_status_transitions()
            if t.name == name and t.source in (case.status, "*")
        ),
        None,
    )
    extra = _extra_permissions(transition, case) if transition else []
    label = CASE_TRANSITIONS[name]["label"]
    if (
        is_partner_user(actor)
        or not has_transition_perm(method, actor)
        or not all(actor.has_perm(p) for p in extra)
    ):
        if not any(
            t.name == name
            for t in cast("_StatusTransitions", case).get_available_status_transitions()
        ):
            raise ConflictError(f"The case is {case.get_status_display()}.")
        if extra and has_transition_perm(method, actor):
            raise PermissionDenied(
                f"{label} withdraws the case's referrals: it needs someone who may "
                "recall referrals."
            )
        raise PermissionDenied(f"You may not {label} this case.")
    source = case.status
    try:
        method()
        case.status_changed_at = clock.now()
        case.save(update_fields=["status", "status_changed_at", "updated_at"])
    except (TransitionNotAllowed, ConcurrentTransition) as exc:
        raise ConflictError(f"The case is {case.get_status_display()}.") from exc
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.TRANSITION,
        transition=name,
        label=label,
        source=source,
        target=case.status,
    )
    if name in ("recall", "close"):
        reason = Referral.WithdrawReason.RECALLED if name == "recall" else None
        _end_partner_work(
            actor=actor, case=case, reason=reason or Referral.WithdrawReason.CASE_CLOSED
        )
    if (
        name == "refer"
        and auto_route
        and not case.team.filter(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT).exists()
    ):
        # The Assignment Manager routes the case now, in this transaction.
        signals.case_needs_partner.send(sender=Case, case=case, actor=actor)
    return case


# Partners ----------------------------------------------------------------------------------


def _partner_add(
    *, actor: User | None, case: Case, partner: PartnerOrganization
) -> tuple[CasePartner, bool]:
    link = case.case_partners.filter(partner=partner).first()
    if link:
        return link, False
    is_first = not case.case_partners.exists()
    link = CasePartner.objects.create(
        case=case, partner=partner, is_primary=is_first, added_by=actor
    )
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.PARTNER_ADDED,
        partner=partner.name,
        primary=is_first,
    )
    return link, True


@transaction.atomic
def partner_add(*, actor: User | None, case: Case, partner: PartnerOrganization) -> CasePartner:
    """Associate a predefined partner organization; the first one becomes Primary."""
    _require_perm(actor, "cases.add_casepartner", "You may not add partners.")
    if not partner.active:
        raise ValidationError("This partner organization is not active.")
    case = _locked_case(case)
    link, _ = _partner_add(actor=actor, case=case, partner=partner)
    return link


@transaction.atomic
def partner_set_primary(
    *, actor: User | None, case: Case, partner: PartnerOrganization
) -> CasePartner:
    """Make an associated partner the Primary one; the swap is atomic."""
    _require_perm(actor, "cases.change_casepartner", "You may not change the Primary partner.")
    case = _locked_case(case)
    link = case.case_partners.get(partner=partner)
    if not link.is_primary:
        case.case_partners.filter(is_primary=True).update(is_primary=False)
        CasePartner.objects.filter(pk=link.pk).update(is_primary=True)
        link.is_primary = True
        _event(case=case, actor=actor, verb=CaseEvent.Verb.PARTNER_PRIMARY, partner=partner.name)
    return link


@transaction.atomic
def partner_remove(*, actor: User | None, case: Case, partner: PartnerOrganization) -> None:
    """Remove a partner; if it was Primary the oldest remaining partner becomes Primary.
    A partner whose agents are still on the team cannot be removed."""
    _require_perm(actor, "cases.delete_casepartner", "You may not remove partners.")
    case = _locked_case(case)
    link = case.case_partners.get(partner=partner)
    if case.team.filter(is_active=True, organization=partner).exists():
        raise ValidationError(
            "Remove this partner's agents from the Case Team before removing the partner."
        )
    was_primary = link.is_primary
    link.delete()
    promoted = None
    if was_primary:
        promoted = case.case_partners.order_by("added_at", "pk").first()
        if promoted:
            CasePartner.objects.filter(pk=promoted.pk).update(is_primary=True)
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.PARTNER_REMOVED,
        partner=partner.name,
        promoted=promoted.partner.name if promoted else None,
    )


# Case Team ---------------------------------------------------------------------------------


def _sync_managers(
    *,
    case: Case,
    organization: PartnerOrganization,
    disclosure: access.Disclosure | None = None,
) -> None:
    """The organization's managers see the case while one of its agents is on the team or
    a referral waits in its intake queue, with the union of those agents' tabs, as far as
    the client's consent covers them; nothing without one."""
    disclosure = disclosure or access.disclosure_of(case=case, organization=organization)
    tabs = set()
    active = case.team.filter(is_active=True, organization=organization)
    for member_tabs in active.values_list("tabs", flat=True):
        tabs.update(member_tabs)
    intake = Referral.objects.filter(
        case=case, organization=organization, agent__isnull=True, state=State.PENDING
    )
    if intake.exists():
        tabs.update(organization.default_tabs)
    seen = disclosure.open and (active.exists() or intake.exists())
    permissions.sync_organization_managers(
        organization=organization,
        case=case,
        tabs=sorted(disclosure.tabs(tabs)) if seen else None,
    )


def _leave_team(*, member: CaseTeamMember) -> None:
    """The member's access ends at once: off the team, every object permission revoked."""
    member.is_active = False
    member.access_end = ""  # left the team: no "access ended" notice for it
    member.save(update_fields=["is_active", "access_end"])
    permissions.revoke_partner_agent(user=member.user, case=member.case)
    if member.organization_id:
        _sync_managers(
            case=member.case, organization=cast(PartnerOrganization, member.organization)
        )


def referral_due_at(
    *,
    organization: PartnerOrganization,
    hours: int,
    start: datetime | None = None,
    calendar: BusinessCalendar | None = None,
) -> datetime:
    """When `hours` business hours of the organization's calendar (given, or read) have
    passed after `start` (now by default): the due time of a referral."""
    calendar = calendar or BusinessCalendar.for_organization(organization)
    return calendar.add_business_hours(start or clock.now(), hours)


def _open_referral(
    *,
    actor: User | None,
    case: Case,
    organization: PartnerOrganization,
    agent_user: User | None,
    response_hours: int | None,
    routing_decision: RoutingDecision | None = None,
    replaces: Referral | None = None,
    due_at: datetime | None = None,
    calendar: BusinessCalendar | None = None,
    now: datetime | None = None,
) -> Referral:
    """A new pending referral, due after its response window in business hours (the
    organization's default window when none is given), unless `due_at` is given."""
    now = now or clock.now()
    hours = response_hours or organization.default_response_hours
    if due_at is None:
        due_at = referral_due_at(
            organization=organization, hours=hours, start=now, calendar=calendar
        )
    return cast(
        Referral,
        Referral(
            case=case,
            organization=organization,
            agent=agent_user,
            state=State.PENDING,
            requested_by=actor,
            requested_at=now,
            due_at=due_at,
            response_hours=hours,
            routing_decision=routing_decision,
            replaces=replaces,
        ),
    )


@transaction.atomic
def case_team_add(
    *,
    actor: User | None,
    case: Case,
    user: User,
    tabs: list[str] | None = None,
    response_hours: int | None = None,
    event_data: dict[str, Any] | None = None,
    replaces: Referral | None = None,
    due_at: datetime | None = None,
) -> CaseTeamMember:
    """Add a user to the Case Team and save.

    A partner agent is referred the case: a new pending `Referral`, due after the response
    window (`response_hours` business hours of the organization's calendar, by default the
    organization's own window), unseen (the New asterisk); the agent gets the case's object
    permissions (details, `work_case` and the tabs chosen, by default the organization's),
    the organization's managers see it, and the organization is associated with the case
    (Primary if it is the first)."""
    _require_perm(actor, "cases.add_caseteammember", "You may not change the Case Team.")
    case = _locked_case(case)
    agent = PartnerAgent.objects.select_related("organization").filter(user=user).first()
    member: CaseTeamMember | None
    if agent is None:
        if not user.is_active:
            raise ValidationError("This user account is not active.")
        member, created = CaseTeamMember.objects.get_or_create(
            case=case, user=user, defaults={"role": CaseTeamMember.Role.AGENCY, "added_by": actor}
        )
        if not created:
            raise ValidationError("This user is already on the Case Team.")
        _event(case=case, actor=actor, verb=CaseEvent.Verb.TEAM_ADDED, user=user.get_username())
        return member

    if not user.is_active or not agent.organization.active:
        raise ValidationError("This partner agent cannot take cases now.")
    if case.status != Case.Status.THIRD_PARTY:
        raise ValidationError("Refer the case to Third-Party before assigning a partner agent.")
    if response_hours is not None and response_hours < 1:
        raise ValidationError("The response window is at least one business hour.")
    organization = agent.organization
    tabs = list(organization.default_tabs if tabs is None else tabs)
    member = CaseTeamMember.objects.filter(case=case, user=user).first()
    if member is not None and member.is_active:
        raise ValidationError("This partner agent is already on the Case Team.")
    disclosure = _require_basis(case=case, organization=organization)
    referral = _open_referral(
        actor=actor,
        case=case,
        organization=organization,
        agent_user=user,
        response_hours=response_hours,
        replaces=replaces,
        due_at=due_at,
    )
    referral.save()
    _back_from_owner(case_ids=[case.pk])
    if member is None:
        member = CaseTeamMember(case=case, user=user, role=CaseTeamMember.Role.PARTNER_AGENT)
    member.organization = organization
    member.referral = referral
    member.referral_state = referral.state
    member.is_active = True
    member.tabs = tabs
    member.seen_at = None
    member.added_by = actor
    member.added_at = clock.now()
    member.access_until, member.access_end = disclosure.until, disclosure.end
    member.save()
    _watch_access_ends([member])
    _partner_add(actor=actor, case=case, partner=organization)
    permissions.grant_partner_agent(user=user, case=case, tabs=disclosure.tabs(tabs))
    _sync_managers(case=case, organization=organization, disclosure=disclosure)
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.TEAM_ADDED,
        **_agent_added(
            user=user, organization=organization, tabs=tabs, referral=referral, extra=event_data
        ),
    )
    notifications.notify_assignment(referral=referral)
    return member


def _agent_added(
    *,
    user: User,
    organization: PartnerOrganization,
    tabs: list[str],
    referral: Referral,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """The TEAM_ADDED event data of a partner agent (one or many at once)."""
    return {
        "user": user.get_username(),
        "agent": display_name(user),
        "organization": organization.name,
        "tabs": tabs,
        "referral": referral.pk,
        "due_at": cast(datetime, referral.due_at).isoformat(),
        **(extra or {}),
    }


@dataclass(frozen=True)
class TeamAssignment:
    """One partner agent to add to one case's team, for `case_team_add_many`."""

    case: Case
    agent: PartnerAgent  # with its user and organization loaded
    tabs: list[str] | None = None
    response_hours: int | None = None
    event_data: dict[str, Any] | None = None


@transaction.atomic
def case_team_add_many(
    *, actor: User | None, assignments: Sequence[TeamAssignment]
) -> list[CaseTeamMember]:
    """`case_team_add` of a partner agent on many cases at once, with the same effects (the
    pending, unseen referral with its due time; the agent's object permissions; the
    organization's managers; the organization associated, Primary if first; one TEAM_ADDED
    event per case, after its PARTNER_ADDED; the notification) in a fixed number of
    statements whatever the number of cases (bar one queued task per notification with the
    database task backend): bulk routing assigns cases by the hundred.

    Each case at most once, each a Third-Party case on whose team the agent has no row yet,
    not even an inactive one (re-referring a former member goes through `case_team_add`).
    Raises ValidationError, and changes nothing, if any assignment breaks a rule."""
    if not assignments:
        return []
    case_ids = [a.case.pk for a in assignments]
    if len(set(case_ids)) != len(case_ids):
        raise ValidationError("A case appears twice in one batch of assignments.")
    statuses = dict(
        Case.objects.select_for_update()
        .filter(pk__in=case_ids)
        .order_by("pk")
        .values_list("pk", "status")
    )
    for a in assignments:
        if not a.agent.user.is_active or not a.agent.organization.active:
            raise ValidationError("This partner agent cannot take cases now.")
        if statuses.get(a.case.pk) != Case.Status.THIRD_PARTY:
            raise ValidationError("Refer the case to Third-Party before assigning a partner agent.")
    bases = access.disclosures(
        pairs={(a.case.pk, a.agent.organization) for a in assignments}, now=clock.now()
    )
    for a in assignments:
        if not bases[a.case.pk, a.agent.organization.pk].open:
            raise ValidationError(no_consent_message(a.agent.organization), code="no_consent")
    pairs = {(a.case.pk, a.agent.user_id) for a in assignments}
    on_team = CaseTeamMember.objects.filter(
        case_id__in=case_ids, user_id__in={user_id for _, user_id in pairs}
    ).values_list("case_id", "user_id")
    if pairs.intersection(on_team):
        raise ValidationError("This partner agent already has a row on the Case Team.")

    now = clock.now()
    by_partner = bool(actor is not None and is_partner_user(actor))
    calendars: dict[int, BusinessCalendar] = {}
    referrals = []
    for a in assignments:
        organization = a.agent.organization
        if organization.pk not in calendars:
            calendars[organization.pk] = BusinessCalendar.for_organization(organization)
        referrals.append(
            _open_referral(
                actor=actor,
                case=a.case,
                organization=organization,
                agent_user=a.agent.user,
                response_hours=a.response_hours,
                calendar=calendars[organization.pk],
                now=now,
            )
        )
    Referral.objects.bulk_create(referrals)
    _back_from_owner(case_ids=[a.case.pk for a in assignments])
    members, tabs_of = [], {}
    for a, referral in zip(assignments, referrals, strict=True):
        organization = a.agent.organization
        tabs = list(organization.default_tabs if a.tabs is None else a.tabs)
        tabs_of[a.case.pk] = tabs
        members.append(
            CaseTeamMember(
                case=a.case,
                user=a.agent.user,
                role=CaseTeamMember.Role.PARTNER_AGENT,
                organization=organization,
                referral=referral,
                referral_state=referral.state,
                is_active=True,
                tabs=tabs,
                seen_at=None,
                added_by=actor,
                access_until=bases[a.case.pk, organization.pk].until,
                access_end=bases[a.case.pk, organization.pk].end,
            )
        )
    CaseTeamMember.objects.bulk_create(members)
    _watch_access_ends(members)

    # The organizations: associated unless they are already, Primary on a case without any.
    linked = set(
        CasePartner.objects.filter(case_id__in=case_ids).values_list("case_id", "partner_id")
    )
    partnered = {case_id for case_id, _ in linked}
    links, events = [], []
    for a, referral in zip(assignments, referrals, strict=True):
        case, organization, user = a.case, a.agent.organization, a.agent.user
        if (case.pk, organization.pk) not in linked:
            primary = case.pk not in partnered
            links.append(
                CasePartner(case=case, partner=organization, is_primary=primary, added_by=actor)
            )
            linked.add((case.pk, organization.pk))
            partnered.add(case.pk)
            events.append(
                CaseEvent(
                    case=case,
                    actor=actor,
                    by_partner=by_partner,
                    verb=CaseEvent.Verb.PARTNER_ADDED,
                    data={"partner": organization.name, "primary": primary},
                )
            )
        events.append(
            CaseEvent(
                case=case,
                actor=actor,
                by_partner=by_partner,
                verb=CaseEvent.Verb.TEAM_ADDED,
                data=_agent_added(
                    user=user,
                    organization=organization,
                    tabs=tabs_of[case.pk],
                    referral=referral,
                    extra=a.event_data,
                ),
            )
        )
    CasePartner.objects.bulk_create(links)

    # The managers see each case with the tabs of all their organization's agents on it.
    organizations = {a.agent.organization.pk: a.agent.organization for a in assignments}
    union: dict[tuple[int, int], set[str]] = {}
    active = CaseTeamMember.objects.filter(
        case_id__in=case_ids, organization_id__in=organizations, is_active=True
    ).values_list("case_id", "organization_id", "tabs")
    for case_id, organization_id, tabs in active:
        union.setdefault((case_id, organization_id), set()).update(
            bases[case_id, organization_id].tabs(tabs)
            if (case_id, organization_id) in bases
            else ()
        )
    groups = {
        pk: organization.managers_group_id or organization_managers_group(organization).pk
        for pk, organization in organizations.items()
    }
    syncs = []
    for a in assignments:
        key = (a.case.pk, a.agent.organization.pk)
        syncs.append((groups[key[1]], a.case.pk, sorted(union.get(key, ()))))
    permissions.grant_many(
        agents=[
            (m.user_id, m.case_id, bases[m.case_id, cast(int, m.organization_id)].tabs(m.tabs))
            for m in members
        ],
        managers=syncs,
    )
    CaseEvent.objects.bulk_create(events)
    for referral in referrals:
        notifications.notify_assignment(referral=referral)
    return members


@transaction.atomic
def case_team_remove(*, actor: User | None, case: Case, user: User) -> None:
    """Remove a member. A partner agent's open referral is withdrawn and every object
    permission revoked at once; the row stays as the membership's history."""
    _require_perm(actor, "cases.delete_caseteammember", "You may not change the Case Team.")
    case = _locked_case(case)
    member = case.team.select_related("referral").get(user=user, is_active=True)
    if member.role == CaseTeamMember.Role.OWNER:
        raise ValidationError("The case owner stays on the Case Team.")
    if member.is_partner:
        if member.referral is not None and member.referral.is_open:
            _withdraw(referral=member.referral, reason=Referral.WithdrawReason.REMOVED)
        _leave_team(member=member)
    else:
        member.delete()
    _event(case=case, actor=actor, verb=CaseEvent.Verb.TEAM_REMOVED, user=user.get_username())


# Referrals ---------------------------------------------------------------------------------


def _locked_referral(referral: Referral) -> Referral:
    """The referral row, locked, after its case row: the lock order of every team change,
    so an answer racing a team change on the same case waits instead of deadlocking."""
    list(Case.objects.select_for_update().filter(pk=referral.case_id).values_list("pk"))
    return cast(
        Referral,
        Referral.objects.select_for_update(of=("self",))
        .select_related("case", "case__owner", "organization", "agent")
        .get(pk=referral.pk),
    )


def _refuse(referral: Referral) -> ConflictError:
    return ConflictError(
        f"This referral was changed by someone else: it is now {referral.get_state_display()}."
    )


def _fire(referral: Referral, name: str) -> None:
    """Fire one transition of the referral, or say plainly why it cannot happen (409)."""
    try:
        getattr(referral, name)()
    except TransitionNotAllowed as exc:
        raise _refuse(referral) from exc


def _save(referral: Referral, *fields: str) -> None:
    """Save the referral's state (and `fields`) and copy the state to its team row."""
    try:
        referral.save(update_fields=["state", *fields])
    except ConcurrentTransition as exc:
        raise ConflictError("This referral was changed by someone else.") from exc
    CaseTeamMember.objects.filter(referral=referral).update(referral_state=referral.state)


def _require_partner(actor: User, referral: Referral) -> None:
    """Only the referral's own agent, or a partner manager of its organization who works
    the case, answers and works a referral; anyone else gets 403."""
    agent = getattr(actor, "partner_agent", None)
    if agent is None or agent.organization_id != referral.organization_id:
        raise PermissionDenied
    if actor.pk == referral.agent_id:
        return
    if not (agent.is_manager and actor.has_perm(f"cases.{permissions.WORK_CASE}", referral.case)):
        raise PermissionDenied


def _member_of(referral: Referral) -> CaseTeamMember | None:
    return CaseTeamMember.objects.filter(referral=referral).select_related("case", "user").first()


def _tell_owner(*, referral: Referral, kind: str, text: str) -> None:
    """The case owner's Inbox item and email about this referral."""
    inbox.inbox_item_add(user=referral.case.owner, case=referral.case, kind=kind, text=text)
    notifications.notify_owner(referral=referral, what=kind)


def _who(referral: Referral) -> str:
    if referral.agent is None:
        return referral.organization.name
    return f"{display_name(referral.agent)} ({referral.organization.name})"


@transaction.atomic
def referral_accept(*, actor: User, referral: Referral) -> Referral:
    """The partner accepts a pending referral (exactly one of concurrent answers wins)."""
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    _fire(referral, "accept")
    referral.responded_at = clock.now()
    _save(referral, "responded_at")
    _event(case=referral.case, actor=actor, verb=CaseEvent.Verb.ACCEPTED, agent=display_name(actor))
    notifications.notify_owner(referral=referral, what="accepted")
    return referral


def _coded_reason(
    reason: str,
    note: str,
    *,
    codes: type[Referral.DeclineReason] | type[Referral.FailReason],
    missing: str,
    unexplained: str,
) -> None:
    """A reason is one of `codes`; "other" needs the note that explains it."""
    if reason not in codes.values:
        raise ValidationError(missing)
    if reason == codes.OTHER and not note.strip():
        raise ValidationError(unexplained)


@transaction.atomic
def referral_decline(*, actor: User, referral: Referral, reason: str, note: str = "") -> Referral:
    """The partner declines with a coded reason; the case leaves the agent's My Cases, the
    owner is told (Inbox and email) and the case is routed to the next candidate."""
    _coded_reason(
        reason,
        note,
        codes=Referral.DeclineReason,
        missing="Choose a reason for declining.",
        unexplained="Say why you decline this case.",
    )
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    _fire(referral, "decline")
    referral.responded_at = referral.completed_at = clock.now()
    referral.reason, referral.reason_note = reason, note.strip()
    _save(referral, "responded_at", "completed_at", "reason", "reason_note")
    member = _member_of(referral)
    if member is not None:
        _leave_team(member=member)
    _event(
        case=referral.case,
        actor=actor,
        verb=CaseEvent.Verb.DECLINED,
        agent=display_name(referral.agent) if referral.agent else "",
        reason=referral.get_reason_display(),
        note=referral.reason_note,
    )
    _tell_owner(
        referral=referral,
        kind=InboxItem.Kind.DECLINED,
        text=f"{_who(referral)} declined: {referral.get_reason_display()}",
    )
    notifications.reroute_after_decline(referral=referral)
    return referral


@transaction.atomic
def referral_start(*, actor: User, referral: Referral) -> Referral:
    """Work on an accepted referral has begun."""
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    _start(actor=actor, referral=referral)
    return referral


def _start(*, actor: User, referral: Referral) -> None:
    """Put a locked, accepted referral in progress, with its event."""
    _fire(referral, "start")
    referral.started_at = clock.now()
    _save(referral, "started_at")
    _event(case=referral.case, actor=actor, verb=CaseEvent.Verb.STARTED, agent=display_name(actor))


@transaction.atomic
def referral_waitlist(
    *,
    actor: User,
    referral: Referral,
    review_at: datetime | None,
    position: int | None = None,
    note: str = "",
) -> Referral:
    """The partner cannot start yet: on the waitlist until `review_at`, the clock stopped.
    A review date that passes without action makes the referral overdue."""
    if review_at is None or review_at <= clock.now():
        raise ValidationError("Choose a review date in the future.")
    if position is not None and position < 1:
        raise ValidationError("A waitlist position starts at 1.")
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    _fire(referral, "waitlist")
    referral.review_at, referral.waitlist_position = review_at, position
    referral.reason_note = note.strip()
    referral.responded_at = referral.responded_at or clock.now()
    _save(referral, "review_at", "waitlist_position", "reason_note", "responded_at")
    _event(
        case=referral.case,
        actor=actor,
        verb=CaseEvent.Verb.WAITLISTED,
        agent=display_name(actor),
        review_at=review_at.isoformat(),
        position=position,
    )
    return referral


@transaction.atomic
def referral_resume(*, actor: User, referral: Referral) -> Referral:
    """Off the waitlist: the partner works the case."""
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    _fire(referral, "resume")
    referral.review_at = None
    referral.started_at = referral.started_at or clock.now()
    _save(referral, "review_at", "started_at")
    _event(case=referral.case, actor=actor, verb=CaseEvent.Verb.RESUMED, agent=display_name(actor))
    return referral


def contact_attempts(*, referral: Referral) -> QuerySet[Activity]:
    """The logged attempts to reach the client during this referral: the partner's
    Activities of type call, visit or letter on the case since it was referred."""
    return Activity.objects.filter(
        case_id=referral.case_id,
        by_partner=True,
        type__in=Activity.CONTACT_TYPES,
        created_at__gte=referral.requested_at,
    ).order_by("created_at", "pk")


@transaction.atomic
def referral_complete(*, actor: User, referral: Referral, outcome: str, note: str) -> Referral:
    """The partner finished the work: an outcome code and a note. "Could not contact the
    client" needs at least three logged contact attempts."""
    if outcome not in Referral.Outcome.values or outcome == Referral.Outcome.NOT_RECORDED:
        raise ValidationError("Choose the outcome.")
    if not note.strip():
        raise ValidationError("Say what was done for the client.")
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    if not can_proceed(referral.complete):
        raise _refuse(referral)  # the state first: its rules mean nothing on a pending one
    if outcome == Referral.Outcome.COULD_NOT_CONTACT:
        attempts = contact_attempts(referral=referral).count()
        if attempts < Referral.CONTACT_ATTEMPTS_REQUIRED:
            raise ValidationError(
                f"“Could not contact the client” needs at least "
                f"{Referral.CONTACT_ATTEMPTS_REQUIRED} logged contact attempts (calls, visits "
                f"or letters in Activities); {attempts} logged so far."
            )
    _fire(referral, "complete")
    referral.completed_at = clock.now()
    referral.outcome, referral.outcome_note = outcome, note.strip()
    _save(referral, "completed_at", "outcome", "outcome_note")
    _event(
        case=referral.case,
        actor=actor,
        verb=CaseEvent.Verb.COMPLETED,
        agent=display_name(actor),
        outcome=referral.get_outcome_display(),
        note=referral.outcome_note,
    )
    _tell_owner(
        referral=referral,
        kind=InboxItem.Kind.COMPLETED,
        text=f"{_who(referral)} completed: {referral.get_outcome_display()}",
    )
    return referral


@transaction.atomic
def referral_fail(*, actor: User, referral: Referral, reason: str, note: str = "") -> Referral:
    """The partner could not help: a coded reason. The case owner decides what next."""
    _coded_reason(
        reason,
        note,
        codes=Referral.FailReason,
        missing="Choose why you could not help.",
        unexplained="Say why you could not help.",
    )
    referral = _locked_referral(referral)
    _require_partner(actor, referral)
    _fire(referral, "fail")
    referral.completed_at = clock.now()
    referral.reason, referral.reason_note = reason, note.strip()
    _save(referral, "completed_at", "reason", "reason_note")
    _event(
        case=referral.case,
        actor=actor,
        verb=CaseEvent.Verb.COULD_NOT_HELP,
        agent=display_name(actor),
        reason=referral.get_reason_display(),
        note=referral.reason_note,
    )
    _tell_owner(
        referral=referral,
        kind=InboxItem.Kind.FAILED,
        text=f"{_who(referral)} could not help: {referral.get_reason_display()}",
    )
    return referral


@transaction.atomic
def referral_expire(*, referral: Referral, now: datetime | None = None) -> bool:
    """Expire a pending referral past its due time (idempotent: False if nothing to do).
    Re-routing or escalation is the caller's (the expiry job's) next step."""
    now = now or clock.now()
    referral = _locked_referral(referral)
    if referral.state != State.PENDING or cast(datetime, referral.due_at) > now:
        return False
    _fire(referral, "expire")
    referral.completed_at = now
    _save(referral, "completed_at")
    member = _member_of(referral)
    if member is not None:
        _leave_team(member=member)
    if referral.agent is None:
        _sync_managers(case=referral.case, organization=referral.organization)
    _event(case=referral.case, actor=None, verb=CaseEvent.Verb.EXPIRED, agent=_who(referral))
    notifications.notify_owner(referral=referral, what="expired")
    return True


def _withdraw(
    *, referral: Referral, reason: str, actor: User | None = None, note: str = ""
) -> None:
    """Withdraw an open referral (case row already locked by the caller)."""
    _fire(referral, "withdraw")
    referral.completed_at = clock.now()
    referral.reason, referral.reason_note = reason, note
    _save(referral, "completed_at", "reason", "reason_note")
    _event(
        case=referral.case,
        actor=actor,
        verb=CaseEvent.Verb.WITHDRAWN,
        agent=_who(referral),
        reason=Referral.WithdrawReason(reason).label,
    )


def _back_from_owner(*, case_ids: list[int]) -> None:
    """The owner has acted on these cases (a new referral, or the case closed or recalled):
    their escalated referrals are no longer waiting with the owner."""
    Referral.objects.filter(case_id__in=case_ids, with_owner=True).update(with_owner=False)


def _end_partner_work(*, actor: User | None, case: Case, reason: str) -> None:
    """Close and Recall: every open referral of the case is withdrawn and every partner
    leaves the team (finished referrals included), their object permissions revoked."""
    open_ = case.referrals.filter(state__in=Referral.OPEN_STATES).select_related(
        "case", "organization", "agent"
    )
    organizations = set()
    for referral in open_.select_for_update(of=("self",)):
        _withdraw(referral=referral, reason=reason, actor=actor)
        organizations.add(referral.organization)
    _back_from_owner(case_ids=[case.pk])
    members = case.team.filter(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT)
    for member in members.select_related("case", "user", "organization"):
        _leave_team(member=member)
        organizations.discard(member.organization)
    for organization in organizations:
        _sync_managers(case=case, organization=organization)


@transaction.atomic
def referral_reassign(*, actor: User, referral: Referral, to_user: User) -> CaseTeamMember:
    """A partner manager moves an open referral to another agent of the organization.

    The old referral is withdrawn ("reassigned") and a new one opened that replaces it.
    A pending referral keeps its deadline (the remaining business hours are the same, in
    the same organization's calendar); an accepted one, or one whose deadline has passed,
    gets the organization's default response window from now."""
    agent = getattr(actor, "partner_agent", None)
    referral = _locked_referral(referral)
    if agent is None or not agent.is_manager or agent.organization_id != referral.organization_id:
        raise PermissionDenied
    target = PartnerAgent.objects.filter(user=to_user).first()
    if (
        target is None
        or target.organization_id != referral.organization_id
        or not to_user.is_active
    ):
        raise ValidationError("Choose an active agent of your organization.")
    if to_user.pk == referral.agent_id:
        raise ValidationError("The case is already assigned to this agent.")
    if not referral.is_open:
        raise ConflictError("Only an open referral can be reassigned.")
    now = clock.now()
    keep = referral.state == State.PENDING and cast(datetime, referral.due_at) > now
    due_at = referral.due_at if keep else None
    member = _member_of(referral)
    tabs = member.tabs if member is not None else None
    from_name = _who(referral)
    _withdraw(referral=referral, reason=Referral.WithdrawReason.REASSIGNED, actor=actor)
    if member is not None:
        _leave_team(member=member)
    new_member = case_team_add(
        actor=actor,
        case=referral.case,
        user=to_user,
        tabs=tabs,
        response_hours=referral.response_hours,
        event_data={"reassigned": True},
        replaces=referral,
        due_at=due_at,
    )
    _event(
        case=referral.case,
        actor=actor,
        verb=CaseEvent.Verb.REASSIGNED,
        from_agent=from_name,
        to_agent=display_name(to_user),
        kept_deadline=keep,
    )
    return new_member


@transaction.atomic
def referral_to_organization(
    *,
    actor: User,
    case: Case,
    organization: PartnerOrganization,
    response_hours: int | None = None,
) -> Referral:
    """Refer a Third-Party case to an organization rather than one agent: the referral
    waits, due, in the intake queue of the organization's partner managers, who see the
    case and assign it to one of their agents (`referral_assign`)."""
    if not actor.has_perm("cases.refer_case"):
        raise PermissionDenied("You may not refer cases.")
    case = _locked_case(case)
    if case.status != Case.Status.THIRD_PARTY:
        raise ValidationError("Refer the case to Third-Party before referring it to a partner.")
    if not organization.active:
        raise ValidationError("This partner organization is not active.")
    if response_hours is not None and response_hours < 1:
        raise ValidationError("The response window is at least one business hour.")
    if case.referrals.filter(
        organization=organization, agent__isnull=True, state=State.PENDING
    ).exists():
        raise ValidationError("This organization already has the case in its intake queue.")
    _require_basis(case=case, organization=organization)
    referral = _open_referral(
        actor=actor,
        case=case,
        organization=organization,
        agent_user=None,
        response_hours=response_hours,
    )
    referral.save()
    _back_from_owner(case_ids=[case.pk])
    _partner_add(actor=actor, case=case, partner=organization)
    organization_managers_group(organization)
    _sync_managers(case=case, organization=organization)
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.REFERRED,
        organization=organization.name,
        referral=referral.pk,
        due_at=cast(datetime, referral.due_at).isoformat(),
    )
    return referral


@transaction.atomic
def referral_assign(*, actor: User, referral: Referral, to_user: User) -> CaseTeamMember:
    """A partner manager assigns a referral of the intake queue to one of the
    organization's agents: the agent joins the Case Team and the referral, still due at
    the same time, is theirs to answer."""
    agent = getattr(actor, "partner_agent", None)
    referral = _locked_referral(referral)
    if agent is None or not agent.is_manager or agent.organization_id != referral.organization_id:
        raise PermissionDenied
    if referral.agent_id is not None or referral.state != State.PENDING:
        raise ConflictError("This referral is no longer waiting in the intake queue.")
    target = PartnerAgent.objects.filter(user=to_user).select_related("organization").first()
    if (
        target is None
        or target.organization_id != referral.organization_id
        or not to_user.is_active
    ):
        raise ValidationError("Choose an active agent of your organization.")
    if referral.case.team.filter(user=to_user, is_active=True).exists():
        raise ValidationError("This agent is already on the Case Team.")
    _withdraw(referral=referral, reason=Referral.WithdrawReason.REASSIGNED, actor=actor)
    return case_team_add(
        actor=actor,
        case=referral.case,
        user=to_user,
        response_hours=referral.response_hours,
        event_data={"from_intake": True},
        replaces=referral,
        due_at=referral.due_at,
    )


@transaction.atomic
def case_mark_seen(*, user: User, case: Case, clear_new: bool = True, tab: str = "") -> None:
    """A partner opened the case: clear the New asterisk (first open) and record the view.

    A caller that already knows there is no asterisk of this user to clear (seen before,
    or not on the team) passes `clear_new=False` and saves the UPDATE. `tab`: the view tab
    that was opened (its slug), for the accounting of disclosures; none for the case page."""
    if clear_new:
        # Lock order of every team change: the case row, then the member row; else a
        # concurrent removal deadlocks with this UPDATE (the event's foreign-key check locks
        # the case only at commit, too late to order anything). The UPDATE's own subquery
        # locks the case row before any member row qualifies: one round trip, not two.
        locked_case = Case.objects.select_for_update().filter(pk=case.pk).values("pk")
        CaseTeamMember.objects.filter(
            case_id=Subquery(locked_case), user=user, is_active=True, seen_at__isnull=True
        ).update(seen_at=clock.now())
    _event(case=case, actor=user, verb=CaseEvent.Verb.VIEWED, **({"tab": tab} if tab else {}))


# Records -----------------------------------------------------------------------------------


def _partner_records_work(*, actor: User, case: Case) -> None:
    """A partner records work only on an open Third-Party case whose referral (their own,
    or for a partner manager one of the organization's) is accepted or in progress; the
    first record on an accepted referral puts it in progress. Raises ValidationError with
    the reason otherwise (a pending referral is answered first)."""
    # The case as it is now, not as the caller read it: a case closed since takes no work.
    # Locked, as a revocation locks it: a record is stored before the revocation commits,
    # or refused after it, never stored after.
    status = (
        Case.objects.select_for_update().filter(pk=case.pk).values_list("status", flat=True).first()
    )
    if status != Case.Status.THIRD_PARTY:
        label = Case.Status(status).label if status else "gone"
        raise ValidationError(f"This case is {label}: it takes no more work.")
    agent = getattr(actor, "partner_agent", None)
    if (
        agent is None
        or not access.disclosure_of(case=case, organization=agent.organization_id).open
    ):
        raise ValidationError("Your access to this case has ended: it takes no work from you.")
    mine = Referral.objects.filter(case=case, state__in=Referral.OPEN_STATES)
    if agent is not None and agent.is_manager:
        mine = mine.filter(organization_id=agent.organization_id)
    else:
        mine = mine.filter(agent=actor)
    referral = mine.order_by("-requested_at", "-pk").first()
    if referral is None or not referral.is_working:
        state = referral.get_state_display().lower() if referral else "not open"
        raise ValidationError(
            f"Your referral is {state}: accept it before you record work."
            if referral is not None and referral.state == State.PENDING
            else f"Your referral is {state}: it takes no work now."
        )
    if referral.state == State.ACCEPTED and referral.agent_id == actor.pk:
        referral = _locked_referral(referral)
        if referral.state == State.ACCEPTED:
            _start(actor=actor, referral=referral)


def next_service_request_number() -> str:
    last = ServiceRequest.objects.aggregate(m=Max("number"))["m"]
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"SR-{sequence:06d}"


@transaction.atomic
def record_add(
    *,
    actor: User,
    case: Case,
    kind: str,
    shared_with_partners: bool = False,
    substance_use: bool = False,
    **fields: Any,
) -> Activity | ServiceRequest | Note:
    """Add an Activity, Service Request or Note. A partner agent's record is always shared
    with the agency and with partners; the partner cannot choose otherwise. `substance_use`
    marks a 42 CFR Part 2 record (shown to partners only under a consent that covers it)."""
    declared = KINDS[kind]
    model = cast("type[Activity | ServiceRequest | Note]", declared.model)
    if kind == "attachments":
        raise TypeError("Use attachment_add for files.")
    unknown = set(fields) - set(declared.fields)
    if unknown:
        raise TypeError(f"Not {kind} fields: {sorted(unknown)}")
    _require_perm(actor, declared.model_permission("add"), "You may not add this record.")
    by_partner = is_partner_user(actor)
    if by_partner:
        _partner_records_work(actor=actor, case=case)
    extra = {}
    if kind == "servicerequests":
        extra["number"] = next_service_request_number()
    record = model.objects.create(
        case=case,
        author=actor,
        by_partner=by_partner,
        shared_with_partners=True if by_partner else shared_with_partners,
        substance_use=substance_use,
        **extra,
        **fields,
    )
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.RECORD_ADDED,
        kind=kind,
        label=declared.singular,
        record_id=record.pk,
        title=str(record)[:80],
        shared=record.shared_with_partners,
    )
    return record


@transaction.atomic
def record_update(*, actor: User, record: CaseRecord, **fields: Any) -> CaseRecord:
    """Update a record's fields (a partner may update shared service requests)."""
    declared = kind_of(record)
    allowed = set(declared.fields) | (set() if is_partner_user(actor) else {"shared_with_partners"})
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"Not editable: {sorted(unknown)}")
    _require_perm(actor, declared.model_permission("change"), "You may not change this record.")
    if is_partner_user(actor):
        _partner_records_work(actor=actor, case=record.case)
    changed = [name for name, value in fields.items() if getattr(record, name) != value]
    for name in changed:
        setattr(record, name, fields[name])
    if changed:
        record.save(update_fields=[*changed, "updated_at"])
        _event(
            case=record.case,
            actor=actor,
            verb=CaseEvent.Verb.RECORD_UPDATED,
            kind=declared.slug,
            label=declared.singular,
            record_id=record.pk,
            title=str(record)[:80],
            fields=sorted(changed),
            shared=record.shared_with_partners,
        )
    return record


ALLOWED_UPLOADS: dict[str, tuple[str, Callable[[bytes], bool]]] = {
    # extension: (content type, magic-number check)
    ".pdf": ("application/pdf", lambda head: head.startswith(b"%PDF-")),
    ".png": ("image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ".jpg": ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ".txt": ("text/plain", lambda head: b"\x00" not in head),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        lambda head: head.startswith(b"PK\x03\x04"),
    ),
}


def validate_upload(upload: File[bytes]) -> tuple[str, str]:
    """Check size, extension and that the content matches it; return (safe name, type)."""
    name = (upload.name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if upload.size > settings.ATTACHMENT_MAX_BYTES:
        limit = settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)
        raise ValidationError(f"The file is larger than {limit} MB.")
    if upload.size == 0:
        raise ValidationError("The file is empty.")
    if extension not in ALLOWED_UPLOADS:
        allowed = ", ".join(sorted(e.lstrip(".").upper() for e in ALLOWED_UPLOADS))
        raise ValidationError(f"This type of file is not accepted. Allowed: {allowed}.")
    content_type, matches = ALLOWED_UPLOADS[extension]
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    if not matches(head):
        raise ValidationError("The file's content does not match its extension.")
    return name[:255], content_type


@transaction.atomic
def attachment_add(
    *,
    actor: User,
    case: Case,
    upload: File[bytes],
    description: str = "",
    shared_with_partners: bool = False,
    substance_use: bool = False,
) -> Attachment:
    """Store an uploaded file under a generated name in private storage and record it.
    If anything fails the transaction rolls back and the stored file is removed."""
    _require_perm(actor, "cases.add_attachment", "You may not add attachments.")
    name, content_type = validate_upload(upload)
    by_partner = is_partner_user(actor)
    if by_partner:
        _partner_records_work(actor=actor, case=case)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        case=case,
        author=actor,
        by_partner=by_partner,
        shared_with_partners=True if by_partner else shared_with_partners,
        original_name=name,
        size=upload.size,
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        sha256=digest.hexdigest(),
        description=description,
        substance_use=substance_use,
    )
    # The file is written first; if the row cannot be written, the file is removed, so
    # there is never a record without its file. A write that fails (a full disk) leaves
    # no partial file either, and is a form error rather than a server error.
    storage = attachment.file.storage
    target = attachment.file.field.generate_filename(attachment, name)
    existed = storage.exists(target)
    try:
        stored = storage.save(target, upload, max_length=attachment.file.field.max_length)
    except OSError as exc:
        if not existed and storage.exists(target):
            storage.delete(target)
        raise ValidationError(
            "The file could not be stored: the server's storage is full or unavailable. "
            "Nothing was saved; try again later or tell your administrator."
        ) from exc
    attachment.file.name = stored
    try:
        with transaction.atomic():
            attachment.save()
            _event(
                case=case,
                actor=actor,
                verb=CaseEvent.Verb.RECORD_ADDED,
                kind="attachments",
                label="Attachment",
                record_id=attachment.pk,
                title=name[:80],
                shared=attachment.shared_with_partners,
            )
    except Exception:
        attachment.file.storage.delete(stored)
        raise
    return attachment


def attachment_downloaded(*, actor: User, attachment: Attachment) -> None:
    """Record a download in the case trail."""
    _event(
        case=attachment.case,
        actor=actor,
        verb=CaseEvent.Verb.DOWNLOADED,
        record_id=attachment.pk,
        title=attachment.original_name[:80],
    )


def accounting_viewed(*, actor: User, case: Case, export: bool = False) -> None:
    """Somebody read the case's accounting of disclosures (the page, or `export`: its CSV).
    In the security log with the request's address, not in the case's History: the
    accounting reads that trail, and reading it discloses nothing to a partner."""
    security.record(
        SecurityEvent.Kind.ACCOUNTING,
        user=actor,
        case_id=case.pk,
        format="csv" if export else "page",
    )


def program_get_or_create(*, code: str, name: str) -> Program:
    return Program.objects.get_or_create(code=code, defaults={"name": name})[0]


# Consent -----------------------------------------------------------------------------------


def _consent_errors(
    *,
    case: Case,
    organization: PartnerOrganization | None,
    program: Program | None,
    data: Sequence[str],
    starts_on: date,
    ends_on: date,
    method: str,
    document: Attachment | None,
    witness: str,
    information: str,
    signed_on: date | None,
) -> dict[str, str]:
    """What is wrong with a consent before it is stored, field by field."""
    errors: dict[str, str] = {}
    if (organization is None) == (program is None):
        errors["organization"] = (
            "Choose the partner organization, or a program for all its partners."
        )
    elif organization is not None and not organization.active:
        errors["organization"] = f"{organization.name} is inactive: it takes no new consent."
    known = {value for value, _ in consent_data_choices()}
    if not data:
        errors["data"] = "Choose what the consent covers."
    elif set(data) - known:
        errors["data"] = f"Unknown data: {', '.join(sorted(set(data) - known))}."
    elif Consent.DETAILS not in data:
        errors["data"] = "A consent covers the case details: records are shown with their case."
    if ends_on < starts_on:
        errors["ends_on"] = "The consent ends before it starts."
    if method not in Consent.Method.values:
        errors["method"] = "Choose how the consent was given."
    if method == Consent.Method.VERBAL and not witness.strip():
        errors["witness"] = "A verbal consent names its witness."
    if method == Consent.Method.SIGNED_FORM:
        if document is None:
            errors["document"] = "Upload the signed form, or choose another way."
        elif document.case_id != case.pk:
            errors["document"] = "The signed form must be an attachment of this case."
    if Consent.SUBSTANCE_USE in data:
        # 42 CFR Part 2: a written consent, with what is disclosed, and its date of signature.
        if method not in Consent.WRITTEN:
            errors["method"] = (
                "Substance-use records need a written consent (signed or electronic)."
            )
        if not information.strip():
            errors["information"] = "Say how much and what kind of information is disclosed."
        if signed_on is None:
            errors["signed_on"] = "Give the date the consent was signed."
    return errors


@transaction.atomic
def consent_record(
    *,
    actor: User,
    case: Case,
    purpose: str,
    data: Sequence[str],
    starts_on: date,
    ends_on: date,
    method: str,
    organization: PartnerOrganization | None = None,
    program: Program | None = None,
    document: Attachment | None = None,
    witness: str = "",
    information: str = "",
    signed_on: date | None = None,
    supersedes: Consent | None = None,
) -> Consent:
    """Record a client's consent (agency staff only). A consent is never edited: a change
    is a new consent that `supersedes` the old one, which then no longer counts.

    Raises ValidationError with the reason of each field, PermissionDenied for a partner or
    without the permission."""
    if is_partner_user(actor):
        raise PermissionDenied("Consents are recorded by the agency.")
    _require_perm(actor, "cases.add_consent", "You may not record consents.")
    case = _locked_case(case)
    errors = _consent_errors(
        case=case,
        organization=organization,
        program=program,
        data=data,
        starts_on=starts_on,
        ends_on=ends_on,
        method=method,
        document=document,
        witness=witness,
        information=information,
        signed_on=signed_on,
    )
    if not purpose.strip():
        errors["purpose"] = "Say what the consent is for."
    if starts_on > timezone.localdate(clock.now()):
        errors["starts_on"] = "Record a consent on or after the day it takes effect."
    if supersedes is not None:
        old = Consent.objects.select_for_update().filter(pk=supersedes.pk).first()
        if old is None or old.case_id != case.pk:
            errors["supersedes"] = "Only a consent of this case can be superseded."
        elif old.revoked_at is not None or Consent.objects.filter(supersedes=old).exists():
            errors["supersedes"] = "That consent was already revoked or superseded."
    if errors:
        raise ValidationError(errors)
    consent = Consent.objects.create(
        case=case,
        organization=organization,
        program=program,
        purpose=purpose.strip(),
        data=list(dict.fromkeys(data)),
        starts_on=starts_on,
        ends_on=ends_on,
        method=method,
        document=document,
        witness=witness.strip(),
        information=information.strip(),
        signed_on=signed_on,
        supersedes=supersedes,
        recorded_by=actor,
    )
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.CONSENT_RECORDED,
        consent_id=consent.pk,
        recipient=consent.recipient,
        data=consent.data,
        starts_on=starts_on.isoformat(),
        ends_on=ends_on.isoformat(),
        supersedes=supersedes.pk if supersedes is not None else None,
    )
    access_refresh(case_ids=[case.pk])
    return consent


def consent_record_with_upload(
    *, actor: User, case: Case, upload: File[bytes] | None, **fields: Any
) -> Consent:
    """`consent_record`, with a signed form's upload stored first (an internal attachment of
    the case, marked Part 2 when the consent covers substance-use records), in one
    transaction: a consent the service refuses leaves neither the attachment nor its file."""
    document = None
    try:
        with transaction.atomic():
            if fields.get("method") == Consent.Method.SIGNED_FORM and upload:
                document = attachment_add(
                    actor=actor,
                    case=case,
                    upload=upload,
                    description="Signed consent form",
                    shared_with_partners=False,
                    substance_use=Consent.SUBSTANCE_USE in fields.get("data", ()),
                )
            return consent_record(actor=actor, case=case, document=document, **fields)
    except Exception:
        # The row went with the rollback; the stored file did not.
        if document is not None:
            document.file.storage.delete(cast(str, document.file.name))
        raise


@transaction.atomic
def consent_revoke(*, actor: User, consent: Consent, reason: str) -> Consent:
    """The client withdrew their consent: stamp it revoked (once) with who and why."""
    if is_partner_user(actor):
        raise PermissionDenied("Consents are revoked by the agency.")
    _require_perm(actor, "cases.change_consent", "You may not revoke consents.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the consent is revoked."})
    _locked_case(consent.case)
    locked = Consent.objects.select_for_update().select_related("case").get(pk=consent.pk)
    if locked.revoked_at is not None:
        raise ValidationError({"reason": "This consent was already revoked."})
    locked.revoked_at = clock.now()
    locked.revoked_by = actor
    locked.revoked_reason = reason.strip()
    locked.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
    _event(
        case=locked.case,
        actor=actor,
        verb=CaseEvent.Verb.CONSENT_REVOKED,
        consent_id=locked.pk,
        recipient=locked.recipient,
        reason=locked.revoked_reason,
    )
    access_refresh(case_ids=[locked.case_id])
    return locked


# Access: the legal basis of a partner's access (consent, emergency access) ------------------


# How long a partner's My Cases tells them that their access to a case ended.
ACCESS_NOTICE_DAYS = 30


def no_consent_message(organization: PartnerOrganization) -> str:
    return (
        f"No consent of the client covers {organization.name} now: record one on the "
        "Consent tab first (an agency manager may grant emergency access instead)."
    )


def _require_basis(*, case: Case, organization: PartnerOrganization) -> access.Disclosure:
    """The disclosure that lets the organization see the case; ValidationError (code
    "no_consent") when there is none: nobody is referred a case without a legal basis."""
    disclosure = access.disclosure_of(case=case, organization=organization)
    if not disclosure.open:
        raise ValidationError(no_consent_message(organization), code="no_consent")
    return disclosure


def _end_access(*, member: CaseTeamMember, end: str, now: datetime) -> None:
    """The partner agent's access to the case ends: the open referral is withdrawn
    ("consent ended"), the agent leaves the team (every permission revoked), and the
    membership keeps when and why, for the notice on the agent's My Cases."""
    referral = member.referral
    if referral is not None and referral.is_open:
        _withdraw(referral=referral, reason=Referral.WithdrawReason.CONSENT_ENDED)
    _leave_team(member=member)
    member.access_until, member.access_end = now, end
    member.save(update_fields=["access_until", "access_end"])
    _event(
        case=member.case,
        actor=None,
        verb=CaseEvent.Verb.ACCESS_ENDED,
        agent=display_name(member.user),
        organization=cast(PartnerOrganization, member.organization).name,
        why=AccessEnd(end).label,
    )
    # The agent's My Cases (and its managers') shows the notice for a while, and the next
    # end to watch for is the earliest of the accesses left.
    watchers = PartnerAgent.objects.filter(
        Q(user_id=member.user_id)
        | Q(organization_id=member.organization_id, role=PartnerAgent.Role.MANAGER)
    )
    watchers.update(notices_until=now + timedelta(days=ACCESS_NOTICE_DAYS))
    left = CaseTeamMember.objects.filter(
        is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT, access_until__isnull=False
    ).order_by()
    # An agent watches its own accesses; a manager, those of the organization's agents.
    for role, scope in (
        (PartnerAgent.Role.AGENT, "user"),
        (PartnerAgent.Role.MANAGER, "organization"),
    ):
        first = (
            left.filter(**{scope: OuterRef(f"{scope}_id")})
            .values(scope)
            .annotate(first=Min("access_until"))
            .values("first")
        )
        watchers.filter(role=role).update(notices_from=Subquery(first))


def _watch_access_ends(members: Sequence[CaseTeamMember]) -> None:
    """The agents' (and their managers') My Cases look for notices of ended access from the
    earliest end among these memberships on: one statement. An end moved later leaves an
    earlier mark, which only costs a look that finds nothing until the next end resets it."""
    ends = [m.access_until for m in members if m.access_until is not None]
    if not ends:
        return
    first = min(ends)
    PartnerAgent.objects.filter(
        Q(user_id__in={m.user_id for m in members})
        | Q(
            organization_id__in={m.organization_id for m in members},
            role=PartnerAgent.Role.MANAGER,
        )
    ).update(notices_from=Least(Coalesce(F("notices_from"), Value(first)), Value(first)))


def access_refresh(*, case_ids: Sequence[int], now: datetime | None = None) -> int:
    """Bring every partner's access to these cases in line with their consents and
    emergency access now: each active partner agent's `access_until` and grants (the Case
    Team's tabs as far as the basis covers them); an agent without a basis any longer
    loses access at once (`_end_access`), an intake referral without one is withdrawn.
    The caller holds the cases' locks or takes them here. Returns how many accesses ended.

    Called in the transaction of every change of a consent or an emergency access, and by
    the periodic job for accesses whose basis has lapsed with time."""
    now = now or clock.now()
    if not case_ids:
        return 0
    list(Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk").values("pk"))
    members = list(
        CaseTeamMember.objects.filter(
            case_id__in=case_ids, is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT
        ).select_related("case", "user", "organization", "referral")
    )
    intake = list(
        Referral.objects.filter(
            case_id__in=case_ids, agent__isnull=True, state=State.PENDING
        ).select_related("case", "organization")
    )
    bases = access.disclosures(
        pairs={(m.case_id, cast(PartnerOrganization, m.organization)) for m in members}
        | {(r.case_id, r.organization) for r in intake},
        now=now,
    )
    kept, grants, ended = [], [], 0
    organizations: dict[tuple[int, int], tuple[Case, PartnerOrganization]] = {}
    for member in members:
        organization = cast(PartnerOrganization, member.organization)
        organizations[member.case_id, organization.pk] = (member.case, organization)
        basis = bases[member.case_id, organization.pk]
        if basis.open:
            member.access_until, member.access_end = basis.until, basis.end
            kept.append(member)
            grants.append((member.user_id, member.case_id, basis.tabs(member.tabs)))
            continue
        # Still in force by its own dates: the basis was withdrawn (or replaced by a
        # consent that no longer covers the organization); else it ran out.
        lapsed = member.access_until is not None and member.access_until <= now
        end = member.access_end if lapsed and member.access_end else AccessEnd.WITHDRAWN
        _end_access(member=member, end=end, now=min(now, member.access_until or now))
        ended += 1
    CaseTeamMember.objects.bulk_update(kept, ["access_until", "access_end"])
    _watch_access_ends(kept)
    permissions.grant_many(agents=grants, managers=[])
    for referral in intake:
        organizations[referral.case_id, referral.organization_id] = (
            referral.case,
            referral.organization,
        )
        if not bases[referral.case_id, referral.organization_id].open:
            _withdraw(referral=referral, reason=Referral.WithdrawReason.CONSENT_ENDED)
    for (case_id, organization_id), (case, organization) in organizations.items():
        _sync_managers(case=case, organization=organization,
                       disclosure=bases[case_id, organization_id])  # fmt: skip
    return ended


def access_end_lapsed(*, now: datetime | None = None, limit: int = 500) -> int:
    """The periodic job: end the access of partner agents whose consent or emergency
    access has run out, and withdraw intake referrals without a basis, so that the
    permissions table agrees with the consents. Access never waits for it: every request
    checks the consents itself. Returns how many accesses ended."""
    now = now or clock.now()
    case_ids = set(
        CaseTeamMember.objects.filter(
            is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT, access_until__lte=now
        )
        .order_by("access_until")
        .values_list("case_id", flat=True)[:limit]
    )
    waiting = Referral.objects.filter(agent__isnull=True, state=State.PENDING).values_list(
        "case_id", "organization_id"
    )[: limit * 4]
    bases = access.disclosures(pairs=list(waiting), now=now)
    case_ids.update(case_id for (case_id, _), basis in bases.items() if not basis.open)
    ended = 0
    for case_id in sorted(case_ids):
        with transaction.atomic():
            ended += access_refresh(case_ids=[case_id], now=now)
    return ended


@transaction.atomic
def emergency_access_grant(
    *,
    actor: User,
    case: Case,
    organization: PartnerOrganization,
    reason: str,
    hours: int = EmergencyAccess.DEFAULT_HOURS,
) -> EmergencyAccess:
    """Break-glass: an agency manager lets a partner organization see the case without a
    consent, for `hours` (72 by default, at most a week), for a stated reason. Its agents
    can then be referred the case; when it lapses their access ends unless a consent has
    been recorded meanwhile. In the case's history and the security log."""
    if is_partner_user(actor):
        raise PermissionDenied("Emergency access is granted by the agency.")
    _require_perm(actor, "cases.add_emergencyaccess", "Only an agency manager may do this.")
    errors = {}
    if not reason.strip():
        errors["reason"] = "Say why the partner needs the case before a consent is recorded."
    if not 1 <= hours <= 7 * 24:
        errors["hours"] = "Emergency access lasts from 1 hour to 7 days (168 hours)."
    if not organization.active:
        errors["organization"] = f"{organization.name} is inactive."
    if errors:
        raise ValidationError(errors)
    case = _locked_case(case)
    now = clock.now()
    with clock.on(lambda: now):  # granted and timed from one instant
        grant = EmergencyAccess.objects.create(
            case=case,
            organization=organization,
            reason=reason.strip(),
            granted_by=actor,
            expires_at=now + timedelta(hours=hours),
        )
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.EMERGENCY_ACCESS,
        organization=organization.name,
        reason=grant.reason,
        expires_at=grant.expires_at.isoformat(),
    )
    access_refresh(case_ids=[case.pk], now=grant.granted_at)
    return grant
