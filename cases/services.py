"""Every write to a case goes through a function here: keyword-only, typed, one
transaction, one `CaseEvent`. Views, forms, admin actions, commands and tasks call these.
"""

import hashlib
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Subquery
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, has_transition_perm
from guardian.core import ObjectPermissionChecker

from casesite.roles import is_partner_user
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import organization_managers_group

from . import permissions
from .models import (
    Activity,
    Attachment,
    Case,
    CaseEvent,
    CasePartner,
    CaseTeamMember,
    Note,
    Program,
    ServiceRequest,
)

Referral = CaseTeamMember.Referral


class ConflictError(Exception):
    """The thing changed under the user's feet (another user acted first): answer 409."""


def _event(*, case: Case, actor, verb: str, **data) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        actor=actor,
        by_partner=bool(actor is not None and is_partner_user(actor)),
        verb=verb,
        data=data,
    )


def _locked_case(case: Case) -> Case:
    """Re-read the case row with a lock: serializes team and partner changes per case."""
    return Case.objects.select_for_update().get(pk=case.pk)


def _actor_name(user) -> str:
    return user.get_full_name() or user.get_username()


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
    year = year or timezone.now().year
    prefix = f"CASE-{year}-"
    last = Case.objects.filter(number__startswith=prefix).aggregate(m=Max("number"))["m"]
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{sequence:06d}"


@transaction.atomic
def case_create(*, actor, owner=None, number: str | None = None, **fields) -> Case:
    """Open a new case; its owner joins the Case Team."""
    unknown = set(fields) - set(CASE_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"Not case fields: {sorted(unknown)}")
    owner = owner or actor
    for attempt in range(5):
        try:
            with transaction.atomic():
                case = Case.objects.create(
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
def case_update(*, actor, case: Case, **fields) -> Case:
    """Edit the case's fields (not its status)."""
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


TRANSITIONS = {
    # name: (label, method name)
    "approve": "Approve",
    "deny": "Deny",
    "refer": "Refer to Third-Party",
    "recall": "Recall Referral",
    "close": "Close Case",
    "reopen": "Reopen",
}


def available_transitions(*, user, case: Case) -> list[tuple[str, str]]:
    """The (name, label) of each transition this user may fire on the case now.

    Same rule as django-fsm's own check (the permission globally or on this case), asked in
    the cheap order: global permissions are cached on the user, and one object permission
    checker serves every transition instead of two queries per transition."""
    checker = ObjectPermissionChecker(user)
    names = {
        t.name
        for t in case.get_available_status_transitions()
        if user.has_perm(t.permission) or checker.has_perm(t.permission, case)
    }
    return [(name, label) for name, label in TRANSITIONS.items() if name in names]


# Called after a referral when the case has no partner agent yet; set by the routing module.
after_refer_hooks: list[Callable[..., None]] = []


@transaction.atomic
def case_transition(*, actor, case: Case, name: str) -> Case:
    """Fire a status transition by name, checking its permission on the server.

    Raises PermissionDenied without the transition's permission, ConflictError when the
    case is not in a state the transition starts from (or changed concurrently)."""
    if name not in TRANSITIONS:
        raise ValueError(f"Unknown transition {name!r}")
    case = Case.objects.select_for_update().get(pk=case.pk)
    method = getattr(case, name)
    if is_partner_user(actor) or not has_transition_perm(method, actor):
        if not any(t.name == name for t in case.get_available_status_transitions()):
            raise ConflictError(f"The case is {case.get_status_display()}.")
        raise PermissionDenied(f"You may not {TRANSITIONS[name]} this case.")
    source = case.status
    try:
        method()
        case.status_changed_at = timezone.now()
        case.save(update_fields=["status", "status_changed_at", "updated_at"])
    except (TransitionNotAllowed, ConcurrentTransition) as exc:
        raise ConflictError(f"The case is {case.get_status_display()}.") from exc
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.TRANSITION,
        transition=name,
        label=TRANSITIONS[name],
        source=source,
        target=case.status,
    )
    if name == "recall":
        for member in case.team.filter(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT):
            # Open referrals are withdrawn; completed work leaves the team as completed.
            state = member.referral_state
            open_ = state in CaseTeamMember.OPEN_REFERRAL_STATES
            _deactivate_member(member=member, transition="withdraw" if open_ else None)
    if (
        name == "refer"
        and not case.team.filter(is_active=True, role=CaseTeamMember.Role.PARTNER_AGENT).exists()
    ):
        for hook in after_refer_hooks:
            hook(case=case, actor=actor)
    return case


# Partners ----------------------------------------------------------------------------------


def _partner_add(*, actor, case: Case, partner: PartnerOrganization) -> tuple[CasePartner, bool]:
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
def partner_add(*, actor, case: Case, partner: PartnerOrganization) -> CasePartner:
    """Associate a predefined partner organization; the first one becomes Primary."""
    if not partner.active:
        raise ValidationError("This partner organization is not active.")
    case = _locked_case(case)
    link, _ = _partner_add(actor=actor, case=case, partner=partner)
    return link


@transaction.atomic
def partner_set_primary(*, actor, case: Case, partner: PartnerOrganization) -> CasePartner:
    """Make an associated partner the Primary one; the swap is atomic."""
    case = _locked_case(case)
    link = case.case_partners.get(partner=partner)
    if not link.is_primary:
        case.case_partners.filter(is_primary=True).update(is_primary=False)
        CasePartner.objects.filter(pk=link.pk).update(is_primary=True)
        link.is_primary = True
        _event(case=case, actor=actor, verb=CaseEvent.Verb.PARTNER_PRIMARY, partner=partner.name)
    return link


@transaction.atomic
def partner_remove(*, actor, case: Case, partner: PartnerOrganization) -> None:
    """Remove a partner; if it was Primary the oldest remaining partner becomes Primary.
    A partner whose agents are still on the team cannot be removed."""
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


def _sync_managers(*, case: Case, organization: PartnerOrganization) -> None:
    tabs = set()
    active = case.team.filter(is_active=True, organization=organization)
    for member_tabs in active.values_list("tabs", flat=True):
        tabs.update(member_tabs)
    permissions.sync_organization_managers(
        organization=organization, case=case, tabs=sorted(tabs) if active.exists() else None
    )


def _deactivate_member(*, member: CaseTeamMember, transition: str | None) -> None:
    if transition:
        getattr(member, transition)()
        member.responded_at = member.responded_at or timezone.now()
    member.is_active = False
    member.save(update_fields=["referral_state", "is_active", "responded_at"])
    permissions.revoke_partner_agent(user=member.user, case=member.case)
    if member.organization_id:
        _sync_managers(case=member.case, organization=member.organization)


@transaction.atomic
def case_team_add(
    *,
    actor,
    case: Case,
    user,
    tabs: list[str] | None = None,
    response_hours: int | None = None,
    event_data: dict | None = None,
) -> CaseTeamMember:
    """Add a user to the Case Team and save.

    A partner agent is assigned the case: the referral is pending and unseen (the New
    asterisk), the agent gets the case's object permissions (details, `work_case` and the
    tabs chosen, by default the organization's), the organization's managers see it, and
    the organization is associated with the case (Primary if it is the first)."""
    case = _locked_case(case)
    agent = PartnerAgent.objects.select_related("organization").filter(user=user).first()
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
    organization = agent.organization
    tabs = list(organization.default_tabs if tabs is None else tabs)
    expires_at = timezone.now() + timedelta(hours=response_hours) if response_hours else None
    member = CaseTeamMember.objects.filter(case=case, user=user).first()
    if member is None:
        member = CaseTeamMember(
            case=case,
            user=user,
            role=CaseTeamMember.Role.PARTNER_AGENT,
            organization=organization,
            referral_state=Referral.PENDING,
        )
    elif member.is_active:
        raise ValidationError("This partner agent is already on the Case Team.")
    else:
        member.rerefer()
        member.organization = organization
        member.decline_reason = ""
        member.decline_note = ""
        member.responded_at = None
    member.is_active = True
    member.tabs = tabs
    member.seen_at = None
    member.expires_at = expires_at
    member.added_by = actor
    member.added_at = timezone.now()
    member.save()
    _partner_add(actor=actor, case=case, partner=organization)
    permissions.grant_partner_agent(user=user, case=case, tabs=tabs)
    _sync_managers(case=case, organization=organization)
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.TEAM_ADDED,
        **_agent_added(user=user, organization=organization, tabs=tabs, extra=event_data),
    )
    _notify("notify_assignment", member=member)
    return member


def _agent_added(*, user, organization: PartnerOrganization, tabs, extra) -> dict:
    """The TEAM_ADDED event data of a partner agent (one or many at once)."""
    return {
        "user": user.get_username(),
        "agent": _actor_name(user),
        "organization": organization.name,
        "tabs": tabs,
        **(extra or {}),
    }


@dataclass(frozen=True)
class TeamAssignment:
    """One partner agent to add to one case's team, for `case_team_add_many`."""

    case: Case
    agent: PartnerAgent  # with its user and organization loaded
    tabs: list[str] | None = None
    response_hours: int | None = None
    event_data: dict | None = None


@transaction.atomic
def case_team_add_many(*, actor, assignments: Sequence[TeamAssignment]) -> list[CaseTeamMember]:
    """`case_team_add` of a partner agent on many cases at once, with the same effects (the
    pending, unseen referral; the agent's object permissions; the organization's managers;
    the organization associated, Primary if first; one TEAM_ADDED event per case, after its
    PARTNER_ADDED; the notification) in a fixed number of statements whatever the number
    of cases (bar one queued task per notification with the database task backend): bulk
    routing assigns cases by the hundred.

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
    pairs = {(a.case.pk, a.agent.user_id) for a in assignments}
    on_team = CaseTeamMember.objects.filter(
        case_id__in=case_ids, user_id__in={user_id for _, user_id in pairs}
    ).values_list("case_id", "user_id")
    if pairs.intersection(on_team):
        raise ValidationError("This partner agent already has a row on the Case Team.")

    now = timezone.now()
    by_partner = bool(actor is not None and is_partner_user(actor))
    members, tabs_of = [], {}
    for a in assignments:
        organization = a.agent.organization
        tabs = list(organization.default_tabs if a.tabs is None else a.tabs)
        tabs_of[a.case.pk] = tabs
        members.append(
            CaseTeamMember(
                case=a.case,
                user=a.agent.user,
                role=CaseTeamMember.Role.PARTNER_AGENT,
                organization=organization,
                referral_state=Referral.PENDING,
                is_active=True,
                tabs=tabs,
                seen_at=None,
                expires_at=(now + timedelta(hours=a.response_hours) if a.response_hours else None),
                added_by=actor,
            )
        )
    CaseTeamMember.objects.bulk_create(members)

    # The organizations: associated unless they are already, Primary on a case without any.
    linked = set(
        CasePartner.objects.filter(case_id__in=case_ids).values_list("case_id", "partner_id")
    )
    partnered = {case_id for case_id, _ in linked}
    links, events = [], []
    for a in assignments:
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
                    user=user, organization=organization, tabs=tabs_of[case.pk], extra=a.event_data
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
        union.setdefault((case_id, organization_id), set()).update(tabs)
    groups = {
        pk: organization.managers_group_id or organization_managers_group(organization).pk
        for pk, organization in organizations.items()
    }
    syncs = []
    for a in assignments:
        key = (a.case.pk, a.agent.organization.pk)
        syncs.append((groups[key[1]], a.case.pk, sorted(union.get(key, ()))))
    permissions.grant_many(agents=[(m.user_id, m.case_id, m.tabs) for m in members], managers=syncs)
    CaseEvent.objects.bulk_create(events)
    for member in members:
        _notify("notify_assignment", member=member)
    return members


@transaction.atomic
def case_team_remove(*, actor, case: Case, user) -> None:
    """Remove a member. A partner agent's open referral is withdrawn and every object
    permission revoked at once; the row stays as the referral's history."""
    case = _locked_case(case)
    member = case.team.get(user=user, is_active=True)
    if member.role == CaseTeamMember.Role.OWNER:
        raise ValidationError("The case owner stays on the Case Team.")
    if member.is_partner:
        state = member.referral_state
        _deactivate_member(
            member=member,
            transition="withdraw" if state in CaseTeamMember.OPEN_REFERRAL_STATES else None,
        )
    else:
        member.delete()
    _event(case=case, actor=actor, verb=CaseEvent.Verb.TEAM_REMOVED, user=user.get_username())


def _locked_member(member: CaseTeamMember) -> CaseTeamMember:
    # Lock order as in every team change: the case row first, then the member row, so an
    # answer racing a team change on the same case waits instead of deadlocking. The second
    # query locks the member row only: PostgreSQL refuses FOR UPDATE on the nullable side of
    # the outer join to the organization.
    list(Case.objects.select_for_update().filter(pk=member.case_id).values_list("pk"))
    return (
        CaseTeamMember.objects.select_for_update(of=("self",))
        .select_related("case", "organization", "user")
        .get(pk=member.pk)
    )


def _respond(*, actor, member: CaseTeamMember, transition: str) -> CaseTeamMember:
    fresh = _locked_member(member)
    if not fresh.is_active or fresh.referral_state != Referral.PENDING:
        raise ConflictError(
            "This referral was changed by someone else: it is now "
            f"{fresh.get_referral_state_display()}."
        )
    try:
        getattr(fresh, transition)()
    except TransitionNotAllowed as exc:
        raise ConflictError(str(exc)) from exc
    fresh.responded_at = timezone.now()
    return fresh


def _require_work(actor, member: CaseTeamMember) -> None:
    if actor.pk != member.user_id and not actor.has_perm("cases.work_case", member.case):
        raise PermissionDenied


@transaction.atomic
def referral_accept(*, actor, member: CaseTeamMember) -> CaseTeamMember:
    """The partner agent accepts a pending referral (exactly one of concurrent answers wins)."""
    _require_work(actor, member)
    member = _respond(actor=actor, member=member, transition="accept")
    try:
        member.save(update_fields=["referral_state", "responded_at"])
    except ConcurrentTransition as exc:
        raise ConflictError("This referral was changed by someone else.") from exc
    _event(case=member.case, actor=actor, verb=CaseEvent.Verb.ACCEPTED, agent=_actor_name(actor))
    _notify("notify_owner", member=member, what="accepted")
    return member


@transaction.atomic
def referral_decline(*, actor, member: CaseTeamMember, reason: str, note: str = "") -> None:
    """The partner agent declines with a reason; the case leaves the agent's My Cases."""
    _require_work(actor, member)
    if reason not in CaseTeamMember.DeclineReason.values:
        raise ValidationError("Choose a reason for declining.")
    if reason == CaseTeamMember.DeclineReason.OTHER and not note.strip():
        raise ValidationError("Say why you decline this case.")
    member = _respond(actor=actor, member=member, transition="decline")
    member.decline_reason = reason
    member.decline_note = note.strip()
    member.is_active = False
    try:
        member.save(
            update_fields=[
                "referral_state",
                "responded_at",
                "decline_reason",
                "decline_note",
                "is_active",
            ]
        )
    except ConcurrentTransition as exc:
        raise ConflictError("This referral was changed by someone else.") from exc
    permissions.revoke_partner_agent(user=member.user, case=member.case)
    _sync_managers(case=member.case, organization=member.organization)
    _event(
        case=member.case,
        actor=actor,
        verb=CaseEvent.Verb.DECLINED,
        agent=_actor_name(member.user),
        reason=member.get_decline_reason_display(),
        note=member.decline_note,
    )
    _notify("notify_owner", member=member, what="declined")


@transaction.atomic
def referral_expire(*, member: CaseTeamMember) -> bool:
    """Expire a pending referral past its window (idempotent: False if nothing to do)."""
    fresh = _locked_member(member)
    if fresh.referral_state != Referral.PENDING or not fresh.is_active:
        return False
    _deactivate_member(member=fresh, transition="expire")
    _event(case=fresh.case, actor=None, verb=CaseEvent.Verb.EXPIRED, agent=_actor_name(fresh.user))
    _notify("notify_owner", member=fresh, what="expired")
    return True


@transaction.atomic
def referral_complete(*, actor, member: CaseTeamMember) -> CaseTeamMember:
    """The partner agent marks accepted work completed."""
    _require_work(actor, member)
    fresh = _locked_member(member)
    if fresh.referral_state != Referral.ACCEPTED:
        raise ConflictError("Only an accepted referral can be completed.")
    fresh.complete()
    fresh.save(update_fields=["referral_state"])
    _event(case=fresh.case, actor=actor, verb=CaseEvent.Verb.COMPLETED)
    return fresh


@transaction.atomic
def referral_reassign(*, actor, member: CaseTeamMember, to_user) -> CaseTeamMember:
    """A partner manager moves a referral to another agent of the same organization."""
    agent = getattr(actor, "partner_agent", None)
    fresh = _locked_member(member)
    target = PartnerAgent.objects.filter(user=to_user).first()
    if (
        agent is None
        or not agent.is_manager
        or agent.organization_id != fresh.organization_id
        or not fresh.is_active
    ):
        raise PermissionDenied
    if target is None or target.organization_id != fresh.organization_id or not to_user.is_active:
        raise ValidationError("Choose an active agent of your organization.")
    if to_user.pk == fresh.user_id:
        raise ValidationError("The case is already assigned to this agent.")
    if fresh.referral_state not in CaseTeamMember.OPEN_REFERRAL_STATES:
        raise ConflictError("Only an open referral can be reassigned.")
    case = _locked_case(fresh.case)
    _deactivate_member(member=fresh, transition="withdraw")
    new_member = case_team_add(
        actor=actor, case=case, user=to_user, tabs=fresh.tabs, event_data={"reassigned": True}
    )
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.REASSIGNED,
        from_agent=_actor_name(fresh.user),
        to_agent=_actor_name(to_user),
    )
    return new_member


@transaction.atomic
def case_mark_seen(*, user, case: Case, clear_new: bool = True) -> None:
    """A partner opened the case: clear the New asterisk (first open) and record the view.

    A caller that already knows there is no asterisk of this user to clear (seen before,
    or not on the team) passes `clear_new=False` and saves the UPDATE."""
    if clear_new:
        # Lock order of every team change: the case row, then the member row; else a
        # concurrent removal deadlocks with this UPDATE (the event's foreign-key check locks
        # the case only at commit, too late to order anything). The UPDATE's own subquery
        # locks the case row before any member row qualifies: one round trip, not two.
        locked_case = Case.objects.select_for_update().filter(pk=case.pk).values("pk")
        CaseTeamMember.objects.filter(
            case_id=Subquery(locked_case), user=user, is_active=True, seen_at__isnull=True
        ).update(seen_at=timezone.now())
    _event(case=case, actor=user, verb=CaseEvent.Verb.VIEWED)


# Records -----------------------------------------------------------------------------------

RECORD_MODELS = {
    "activities": Activity,
    "attachments": Attachment,
    "servicerequests": ServiceRequest,
    "notes": Note,
}
RECORD_FIELDS = {
    "activities": ("type", "subject", "description", "due_date", "status"),
    "servicerequests": ("title", "description", "status", "priority"),
    "notes": ("body",),
    "attachments": ("description",),
}


def next_service_request_number() -> str:
    last = ServiceRequest.objects.aggregate(m=Max("number"))["m"]
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"SR-{sequence:06d}"


def _record_label(kind: str) -> str:
    return {
        "activities": "Activity",
        "attachments": "Attachment",
        "servicerequests": "Service Request",
        "notes": "Note",
    }[kind]


@transaction.atomic
def record_add(*, actor, case: Case, kind: str, shared_with_partners: bool = False, **fields):
    """Add an Activity, Service Request or Note. A partner agent's record is always shared
    with the agency and with partners; the partner cannot choose otherwise."""
    model = RECORD_MODELS[kind]
    if kind == "attachments":
        raise TypeError("Use attachment_add for files.")
    unknown = set(fields) - set(RECORD_FIELDS[kind])
    if unknown:
        raise TypeError(f"Not {kind} fields: {sorted(unknown)}")
    by_partner = is_partner_user(actor)
    extra = {}
    if kind == "servicerequests":
        extra["number"] = next_service_request_number()
    record = model.objects.create(
        case=case,
        author=actor,
        by_partner=by_partner,
        shared_with_partners=True if by_partner else shared_with_partners,
        **extra,
        **fields,
    )
    _event(
        case=case,
        actor=actor,
        verb=CaseEvent.Verb.RECORD_ADDED,
        kind=kind,
        label=_record_label(kind),
        record_id=record.pk,
        title=str(record)[:80],
        shared=record.shared_with_partners,
    )
    return record


@transaction.atomic
def record_update(*, actor, record, **fields):
    """Update a record's fields (a partner may update shared service requests)."""
    kind = next(k for k, m in RECORD_MODELS.items() if isinstance(record, m))
    allowed = set(RECORD_FIELDS[kind]) | (
        set() if is_partner_user(actor) else {"shared_with_partners"}
    )
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"Not editable: {sorted(unknown)}")
    changed = [name for name, value in fields.items() if getattr(record, name) != value]
    for name in changed:
        setattr(record, name, fields[name])
    if changed:
        record.save(update_fields=[*changed, "updated_at"])
        _event(
            case=record.case,
            actor=actor,
            verb=CaseEvent.Verb.RECORD_UPDATED,
            kind=kind,
            label=_record_label(kind),
            record_id=record.pk,
            title=str(record)[:80],
            fields=sorted(changed),
            shared=record.shared_with_partners,
        )
    return record


ALLOWED_UPLOADS = {
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


def validate_upload(upload) -> tuple[str, str]:
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
    *, actor, case: Case, upload, description: str = "", shared_with_partners: bool = False
) -> Attachment:
    """Store an uploaded file under a generated name in private storage and record it.
    If anything fails the transaction rolls back and the stored file is removed."""
    name, content_type = validate_upload(upload)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    by_partner = is_partner_user(actor)
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


def attachment_downloaded(*, actor, attachment: Attachment) -> None:
    """Record a download in the case trail."""
    _event(
        case=attachment.case,
        actor=actor,
        verb=CaseEvent.Verb.DOWNLOADED,
        record_id=attachment.pk,
        title=attachment.original_name[:80],
    )


# Notifications (filled in by the routing module) --------------------------------------------

notification_handlers: dict[str, Callable[..., None]] = {}


def _notify(kind: str, **kwargs) -> None:
    handler = notification_handlers.get(kind)
    if handler is not None:
        handler(**kwargs)


def program_get_or_create(*, code: str, name: str) -> Program:
    return Program.objects.get_or_create(code=code, defaults={"name": name})[0]
