"""Cases, their partners, case team, records and the append-only event trail."""

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from casesite import clock
from casesite.clock import StampField
from partners.models import PartnerOrganization

from .languages import language_name
from .records import RECORD_KINDS


class Program(models.Model):
    """A benefit program (SNAP, Medicaid, ...)."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Case(ConcurrentTransitionMixin, models.Model):
    """A benefits case. Its status moves only through the transitions below."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        THIRD_PARTY = "third_party", "Third-Party"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    # Fields a partner agent may see on the case details form, in display order.
    PARTNER_FIELDS = (
        "number",
        "name",
        "program",
        "status",
        "priority",
        "applicant_name",
        "applicant_phone",
        "applicant_email",
        "region",
        "language",
        "summary",
    )
    # Never in any portal response, fragment or file.
    INTERNAL_FIELDS = (
        "household_income",
        "applicant_identifier",
        "date_of_birth",
        "eligibility_notes",
    )

    number = models.CharField("Case Number", max_length=20, unique=True)
    name = models.CharField("Case Name", max_length=200)
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="cases")
    applicant_name = models.CharField(max_length=200)
    applicant_phone = models.CharField(max_length=32, blank=True)
    applicant_email = models.EmailField(blank=True)
    region = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=8, default="en")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    summary = models.TextField(blank=True, help_text="What the partner needs to know.")
    household_income = models.DecimalField(
        "Household income (monthly)", max_digits=10, decimal_places=2, null=True, blank=True
    )
    applicant_identifier = models.CharField(
        "Applicant identifier", max_length=32, blank=True, help_text="Internal only."
    )
    date_of_birth = models.DateField(null=True, blank=True)
    eligibility_notes = models.TextField(blank=True, help_text="Internal only.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_cases"
    )
    status = FSMField(
        max_length=16, choices=Status.choices, default=Status.OPEN, protected=True, db_index=True
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = StampField(auto_now_add=True, db_index=True)
    updated_at = StampField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("approve_case", "Can approve a case"),
            ("deny_case", "Can deny a case"),
            ("refer_case", "Can refer a case to Third-Party"),
            ("recall_case", "Can recall a referral"),
            ("close_case", "Can close a case"),
            ("reopen_case", "Can reopen a case"),
            ("route_case", "Can route cases and manage routing rules"),
            *(kind.permission_declaration for kind in RECORD_KINDS),
            ("work_case", "Can accept, decline and add records to a case"),
        ]
        indexes = [
            # The Cases List's default order (most recently updated first): an index scan
            # that stops after one page instead of sorting every case.
            models.Index(fields=["updated_at", "id"], name="case_updated"),
            # The Cases List sorted by Case Name or by opening date, and the admin's newest
            # first: the same early stop instead of sorting a million rows.
            models.Index(fields=["name", "id"], name="case_name"),
            models.Index(fields=["created_at", "id"], name="case_created"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    @property
    def language_display(self) -> str:
        """The case language by name ("Spanish"), as pages show it."""
        return language_name(self.language)

    # Each transition declares, once, what the pages and the admin show of it: its button
    # label and style, the confirmation asked before it, and the message after it. The
    # services, the agency views and the admin read them from here (`case_transitions`).

    @transition(
        field=status,
        source=Status.OPEN,
        target=Status.APPROVED,
        permission="cases.approve_case",
        custom={
            "label": "Approve",
            "confirm": "Approve case {number}? It has met the eligibility criteria.",
            "done": "Case {number} approved.",
        },
    )
    def approve(self):
        """Approve the case: it met the eligibility criteria."""

    @transition(
        field=status,
        source=Status.OPEN,
        target=Status.DENIED,
        permission="cases.deny_case",
        custom={
            "label": "Deny",
            "confirm": "Deny case {number}?",
            "done": "Case {number} denied.",
            "style": "usa-button--secondary",
        },
    )
    def deny(self):
        """Deny the case."""

    @transition(
        field=status,
        source=Status.APPROVED,
        target=Status.THIRD_PARTY,
        permission="cases.refer_case",
        custom={
            "label": "Refer to Third-Party",
            "confirm": "Refer case {number} to Third-Party? Partner agents you add to the Case "
            "Team will see it in the Partner Portal.",
            "done": "Case {number} referred to Third-Party.",
        },
    )
    def refer(self):
        """Refer the approved case to a third-party partner."""

    @transition(
        field=status,
        source=Status.THIRD_PARTY,
        target=Status.APPROVED,
        permission="cases.recall_case",
        custom={
            "label": "Recall Referral",
            "confirm": "Recall the referral of case {number}? Its partner agents lose access "
            "at once.",
            "done": "Case {number} recalled from Third-Party.",
            "style": "usa-button--outline",
        },
    )
    def recall(self):
        """Take the case back from the partner."""

    @transition(
        field=status,
        source=[Status.APPROVED, Status.DENIED, Status.THIRD_PARTY],
        target=Status.CLOSED,
        permission="cases.close_case",
        # Closing a Third-Party case withdraws its referrals, as a recall does: it takes
        # the recall permission as well.
        custom={
            "label": "Close Case",
            "confirm": "Close case {number}?",
            "done": "Case {number} closed.",
            "style": "usa-button--outline",
            "from_third_party": "cases.recall_case",
        },
    )
    def close(self):
        """Close the case."""

    @transition(
        field=status,
        source=Status.CLOSED,
        target=Status.OPEN,
        permission="cases.reopen_case",
        custom={
            "label": "Reopen",
            "confirm": "Reopen case {number}?",
            "done": "Case {number} reopened.",
            "style": "usa-button--outline",
        },
    )
    def reopen(self):
        """Reopen a closed case."""


def declared_transitions(model: type[models.Model], field: str) -> dict[str, dict]:
    """Each transition of a state field, by name, with what its `@transition(custom=...)`
    declares, in the order of the model (a transition from several sources is one)."""
    declared: dict[str, dict] = {}
    for each in model._meta.get_field(field).get_all_transitions(model):
        declared.setdefault(each.name, each.custom)
    # django-fsm lists them by name; the class body gives the order they were written in.
    return {name: declared[name] for name in vars(model) if name in declared}


CASE_TRANSITIONS = declared_transitions(Case, "status")


class CaseUserObjectPermission(UserObjectPermissionBase):
    """Guardian's direct foreign-key model for per-user case permissions."""

    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class CaseGroupObjectPermission(GroupObjectPermissionBase):
    """Guardian's direct foreign-key model for per-group case permissions."""

    content_object = models.ForeignKey(Case, on_delete=models.CASCADE)


class CasePartner(models.Model):
    """A predefined partner organization associated with a case; exactly one is primary."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="case_partners")
    partner = models.ForeignKey(
        PartnerOrganization, on_delete=models.PROTECT, related_name="case_links"
    )
    is_primary = models.BooleanField("Primary", default=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = StampField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "partner"], name="casepartner_unique_partner"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(is_primary=True), name="casepartner_one_primary"
            ),
        ]
        indexes = [models.Index(fields=["partner", "is_primary"], name="casepartner_partner")]

    def __str__(self) -> str:
        return f"{self.partner} on {self.case.number}{' (Primary)' if self.is_primary else ''}"


class Referral(ConcurrentTransitionMixin, models.Model):
    """One attempt to have a partner work the case, from request to outcome.

    A referral goes to a partner organization and, usually, to one of its agents; without
    an agent it waits in the organization's intake queue until a partner manager assigns
    it. Its state follows the HL7 FHIR Gravity referral Task (see `FHIR_STATUS`) and moves
    only through the transitions below, fired by the services in `cases.services`. A
    re-route or a reassignment closes this row and opens a new one that `replaces` it:
    history is never overwritten. Every open referral is due (`due_at`), waitlisted with a
    review date, or gone to the case owner's Inbox; the constraints keep the first two."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        IN_PROGRESS = "in_progress", "In progress"
        WAITLISTED = "waitlisted", "Waitlisted"
        COMPLETED = "completed", "Completed"
        COULD_NOT_HELP = "could_not_help", "Could not help"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class DeclineReason(models.TextChoices):
        NO_CAPACITY = "no_capacity", "No capacity"
        CONFLICT = "conflict", "Conflict of interest"
        OUT_OF_AREA = "out_of_area", "Out of service area"
        NOT_ELIGIBLE = "not_eligible", "Not eligible"
        OTHER = "other", "Other"

    class FailReason(models.TextChoices):
        SERVICE_UNAVAILABLE = "service_unavailable", "Service no longer available"
        CLIENT_INELIGIBLE = "client_ineligible", "Client not eligible for the service"
        CLIENT_DECLINED = "client_declined", "Client declined the service"
        CONFLICT = "conflict", "Conflict of interest found"
        OTHER = "other", "Other"

    class WithdrawReason(models.TextChoices):
        CASE_CLOSED = "case_closed", "The case was closed"
        RECALLED = "recalled", "The agency recalled the referral"
        REASSIGNED = "reassigned", "Reassigned to another agent"
        REMOVED = "removed", "Removed from the Case Team"
        CONSENT_ENDED = "consent_ended", "The client's consent ended"
        OTHER = "other", "Other"

    class Outcome(models.TextChoices):
        SERVED = "served", "Client served"
        PARTLY_SERVED = "partly_served", "Client partly served"
        REFERRED_ELSEWHERE = "referred_elsewhere", "Referred elsewhere"
        CLIENT_WITHDREW = "client_withdrew", "Client withdrew"
        COULD_NOT_CONTACT = "could_not_contact", "Could not contact the client"
        # Only referrals completed before outcomes were kept (data migration 0010).
        NOT_RECORDED = "not_recorded", "Not recorded"

    # The FHIR Task.status of each state: the exchange API maps them one to one.
    FHIR_STATUS = {
        State.PENDING: "requested",
        State.ACCEPTED: "accepted",
        State.IN_PROGRESS: "in-progress",
        State.WAITLISTED: "on-hold",
        State.COMPLETED: "completed",
        State.COULD_NOT_HELP: "failed",
        State.DECLINED: "rejected",
        State.EXPIRED: "cancelled",
        State.WITHDRAWN: "cancelled",
    }
    OPEN_STATES = (State.PENDING, State.ACCEPTED, State.IN_PROGRESS, State.WAITLISTED)
    # A partner records work (activities, notes, attachments, service requests) only here.
    WORKING_STATES = (State.ACCEPTED, State.IN_PROGRESS)
    # States the partner keeps the case in (My Cases) once the referral has ended.
    FINISHED_STATES = (State.COMPLETED, State.COULD_NOT_HELP)
    # "Could not contact the client" needs at least this many logged contact attempts.
    CONTACT_ATTEMPTS_REQUIRED = 3

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="referrals")
    organization = models.ForeignKey(
        PartnerOrganization, on_delete=models.PROTECT, related_name="referrals"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        help_text="Empty: in the organization's intake queue until a partner manager assigns it.",
    )
    state = FSMField(max_length=16, choices=State.choices, default=State.PENDING, protected=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=clock.now)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the partner must answer (business hours)."
    )
    response_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="The response window, in business hours."
    )
    responded_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When it ended.")
    reason = models.CharField(
        max_length=24, blank=True, help_text="Coded reason of a decline, failure or withdrawal."
    )
    reason_note = models.TextField(max_length=2000, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, blank=True)
    outcome_note = models.TextField(max_length=4000, blank=True)
    review_at = models.DateTimeField(
        null=True, blank=True, help_text="Waitlisted: when the partner reviews it again."
    )
    waitlist_position = models.PositiveIntegerField(null=True, blank=True)
    routing_decision = models.ForeignKey(
        "RoutingDecision",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
    )
    replaces = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
        help_text="The referral this one took over from (decline, expiry or reassignment).",
    )
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When it came back to the case owner's Inbox."
    )
    with_owner = models.BooleanField(
        default=False,
        help_text="Came back to the case owner, and nothing since: no new referral of the "
        "case, and the case still Third-Party.",
    )
    # The date the agency watches, kept by the database: a pending referral's answer, a
    # waitlisted one's review; empty while the partner works it and once it has ended. The
    # Referrals board sorts open referrals by it, from one partial index.
    attention_at = models.GeneratedField(
        expression=models.Case(
            models.When(state="pending", then="due_at"),
            models.When(state="waitlisted", then="review_at"),
        ),
        output_field=models.DateTimeField(null=True),
        db_persist=True,
    )

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="pending") | Q(due_at__isnull=False),
                name="referral_pending_has_due",
            ),
            models.CheckConstraint(
                condition=~Q(state="waitlisted") | Q(review_at__isnull=False),
                name="referral_waitlisted_has_review",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["declined", "could_not_help", "withdrawn"]) | ~Q(reason=""),
                name="referral_closed_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(state="completed") | ~Q(outcome=""),
                name="referral_completed_has_outcome",
            ),
            models.CheckConstraint(
                condition=Q(with_owner=False) | Q(escalated_at__isnull=False),
                name="referral_with_owner_was_escalated",
            ),
            models.CheckConstraint(
                # An intake referral is assigned (withdrawn in favour of the agent's own),
                # or lapses unassigned.
                condition=Q(agent__isnull=False) | Q(state__in=["pending", "withdrawn", "expired"]),
                name="referral_unassigned_is_pending",
            ),
            # One open referral per agent and case (and one open intake per organization).
            models.UniqueConstraint(
                fields=["case", "agent"],
                condition=Q(state__in=["pending", "accepted", "in_progress", "waitlisted"]),
                name="referral_one_open_per_agent",
            ),
            models.UniqueConstraint(
                fields=["case", "organization"],
                condition=Q(agent__isnull=True, state="pending"),
                name="referral_one_intake_per_organization",
            ),
        ]
        indexes = [
            models.Index(fields=["case", "-requested_at"], name="referral_by_case"),
            # The expiry job: pending referrals by due time.
            models.Index(
                fields=["due_at"], condition=Q(state="pending"), name="referral_pending_due"
            ),
            models.Index(
                fields=["review_at"],
                condition=Q(state="waitlisted"),
                name="referral_waitlist_review",
            ),
            # An organization's intake queue.
            models.Index(
                fields=["organization", "requested_at"],
                condition=Q(agent__isnull=True, state="pending"),
                name="referral_intake",
            ),
            models.Index(fields=["organization", "state"], name="referral_org_state"),
            # The Referrals board's "completed this week" filter.
            models.Index(
                fields=["completed_at"],
                condition=Q(state="completed"),
                name="referral_completed_at",
            ),
            models.Index(fields=["agent", "state"], name="referral_agent_state"),
            # The Referrals board: open referrals, the most pressing deadline first, then
            # those being worked, longest first; the worked ones alone; the ones back with
            # the owner.
            models.Index(
                fields=["attention_at", "requested_at", "id"],
                condition=Q(state__in=["pending", "accepted", "in_progress", "waitlisted"]),
                name="referral_board",
            ),
            models.Index(
                fields=["requested_at", "id"],
                condition=Q(state__in=["accepted", "in_progress"]),
                name="referral_worked",
            ),
            # Counting open referrals, all or by state: one narrow, deduplicated key.
            models.Index(
                fields=["state"],
                condition=Q(state__in=["pending", "accepted", "in_progress", "waitlisted"]),
                name="referral_open_state",
            ),
            models.Index(
                fields=["escalated_at", "id"],
                condition=Q(with_owner=True),
                name="referral_with_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} to {self.agent_id or self.organization_id}: {self.state}"

    def confirmation(self, name: str) -> str:
        """What the partner is told after transition `name`: its declared `done` text."""
        transition = next(t for t in self.get_all_state_transitions() if t.name == name)
        review = f"{timezone.localtime(self.review_at):%B %-d, %Y}" if self.review_at else ""
        return transition.custom["done"].format(
            number=self.case.number, review=review, outcome=self.get_outcome_display()
        )

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_working(self) -> bool:
        return self.state in self.WORKING_STATES

    @property
    def fhir_status(self) -> str:
        return self.FHIR_STATUS[self.State(self.state)]

    def get_reason_display(self) -> str:
        for choices in (self.DeclineReason, self.FailReason, self.WithdrawReason):
            if self.reason in choices.values:
                return choices(self.reason).label
        return self.reason

    # Partner transitions: the service checks `work_case` on the case (the agent's own
    # referral, or a partner manager of the organization).

    @transition(
        field=state,
        source=State.PENDING,
        target=State.ACCEPTED,
        custom={
            "label": "Accept case",
            "by": "partner",
            "done": "You accepted {number}. The agency has been told; "
            "record your work in the tabs.",
        },
    )
    def accept(self):
        """The partner agent takes the case."""

    @transition(
        field=state,
        source=State.PENDING,
        target=State.DECLINED,
        custom={
            "label": "Decline case",
            "by": "partner",
            "done": "You declined {number}. It has left My Cases.",
        },
    )
    def decline(self):
        """The partner agent turns the case down (coded reason required)."""

    @transition(
        field=state,
        source=State.ACCEPTED,
        target=State.IN_PROGRESS,
        custom={
            "label": "Start work",
            "by": "partner",
            "done": "{number} is in progress. The agency sees it now.",
        },
    )
    def start(self):
        """Work has begun (a button, or the first record added after accepting)."""

    @transition(
        field=state,
        source=[State.PENDING, State.ACCEPTED, State.IN_PROGRESS],
        target=State.WAITLISTED,
        custom={
            "label": "Put on waitlist",
            "by": "partner",
            "done": "{number} is on your waitlist until {review}. The agency has been told.",
        },
    )
    def waitlist(self):
        """The partner cannot start yet: the clock stops until the review date."""

    @transition(
        field=state,
        source=State.WAITLISTED,
        target=State.IN_PROGRESS,
        custom={
            "label": "Resume work",
            "by": "partner",
            "done": "{number} is off the waitlist and in progress.",
        },
    )
    def resume(self):
        """Off the waitlist: the partner works the case."""

    @transition(
        field=state,
        source=[State.ACCEPTED, State.IN_PROGRESS],
        target=State.COMPLETED,
        custom={
            "label": "Complete",
            "by": "partner",
            "done": "You completed {number} ({outcome}). The case owner has been told.",
        },
    )
    def complete(self):
        """The partner finished the work (outcome code and note required)."""

    @transition(
        field=state,
        source=[State.ACCEPTED, State.IN_PROGRESS, State.WAITLISTED],
        target=State.COULD_NOT_HELP,
        custom={
            "label": "Could not help",
            "by": "partner",
            "done": "You closed {number}: could not help. The case owner has been told.",
        },
    )
    def fail(self):
        """The partner accepted but could not help (coded reason required)."""

    # System and agency transitions.

    @transition(field=state, source=State.PENDING, target=State.EXPIRED, custom={"by": "system"})
    def expire(self):
        """Nobody answered before the due time."""

    @transition(
        field=state,
        source=[State.PENDING, State.ACCEPTED, State.IN_PROGRESS, State.WAITLISTED],
        target=State.WITHDRAWN,
        custom={"by": "agency"},
    )
    def withdraw(self):
        """The agency took the referral back: case closed, recalled, removed, reassigned."""


class AccessEnd(models.TextChoices):
    """Why a partner's access to a case ends, as the partner's notice says it."""

    EXPIRED = "expired", "consent expired"
    WITHDRAWN = "withdrawn", "consent withdrawn"
    EMERGENCY = "emergency", "emergency access ended"


class CaseTeamMember(models.Model):
    """A user on a case team: membership and the access it grants.

    A partner agent's row points at the agent's current `Referral` of the case; the
    referral's state is copied into `referral_state` by the referral services, in the same
    transaction, so that My Cases and the Referrals board filter it from their indexes."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        AGENCY = "agency", "Agency member"
        PARTNER_AGENT = "partner_agent", "Partner agent"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="team")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    organization = models.ForeignKey(
        PartnerOrganization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="case_memberships",
        help_text="The partner agent's organization at the time of assignment.",
    )
    is_active = models.BooleanField(
        default=True, help_text="On the team now; off after decline, expiry or removal."
    )
    tabs = models.JSONField(default=list, blank=True, help_text="Tabs granted to a partner agent.")
    referral = models.ForeignKey(
        Referral,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The partner agent's current referral of this case.",
    )
    referral_state = models.CharField(
        max_length=16,
        choices=[("", "—"), *Referral.State.choices],
        default="",
        blank=True,
        editable=False,
        help_text="Copy of the current referral's state, kept by the referral services.",
    )
    seen_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the New asterisk.")
    # The partner's legal basis, copied from the consents (and emergency access) by
    # `cases.access.refresh` in the transaction that changes them, so that My Cases filters
    # it from its index: the membership opens the case only before `access_until`.
    access_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the consent or emergency access that opens the case to the agent ends.",
    )
    access_end = models.CharField(
        max_length=16,
        choices=[("", "—"), *AccessEnd.choices],
        default="",
        blank=True,
        editable=False,
        help_text="Why access ends (or ended) at access_until.",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = StampField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="caseteam_unique_member"),
            models.CheckConstraint(
                condition=Q(role="partner_agent", organization__isnull=False)
                | (~Q(role="partner_agent") & Q(referral_state="")),
                name="caseteam_partner_has_org_and_agency_has_no_referral",
            ),
            models.CheckConstraint(
                condition=~Q(role="partner_agent") | Q(referral__isnull=False),
                name="caseteam_partner_has_referral",
            ),
        ]
        indexes = [
            # My Cases: one index range scan per agent, newest assignment first.
            models.Index(
                fields=["user", "-added_at"],
                condition=Q(is_active=True),
                name="caseteam_mycases",
            ),
            models.Index(
                fields=["organization", "-added_at"],
                condition=Q(is_active=True),
                name="caseteam_org_cases",
            ),
            # The New count (navigation, My Cases): only the unseen active rows, so the
            # count is an index-only scan of a few entries even for the heaviest agent.
            models.Index(
                fields=["user", "access_until"],
                condition=Q(is_active=True, seen_at__isnull=True),
                name="caseteam_new",
            ),
            models.Index(
                fields=["organization", "access_until"],
                condition=Q(is_active=True, seen_at__isnull=True),
                name="caseteam_org_new",
            ),
            # The My Cases total: COUNT(*) of an agent's (an organization's) active rows whose
            # access has not ended, answered from the index alone (access_until is in it).
            models.Index(
                fields=["user", "access_until"], condition=Q(is_active=True), name="caseteam_active"
            ),
            models.Index(
                fields=["organization", "access_until"],
                condition=Q(is_active=True),
                name="caseteam_org_active",
            ),
            # The Cases List's "referral pending" flag and the Referrals board's "No partner
            # agent" list: one probe per case, answered from these small indexes alone.
            models.Index(
                fields=["case", "added_at"],
                condition=Q(is_active=True, role="partner_agent", referral_state="pending"),
                name="caseteam_case_pending",
            ),
            models.Index(
                fields=["case"],
                condition=Q(is_active=True, role="partner_agent"),
                name="caseteam_case_agent",
            ),
            # My Cases' notices of access that ended lately: a short range of one agent's
            # (one organization's) rows by their end, active or not.
            models.Index(fields=["user", "access_until"], name="caseteam_access_by_user"),
            models.Index(fields=["organization", "access_until"], name="caseteam_access_by_org"),
            # The periodic job's lapsed accesses, oldest first.
            models.Index(
                fields=["access_until"],
                condition=Q(is_active=True, role="partner_agent"),
                name="caseteam_access_until",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.case.number}"

    @property
    def is_partner(self) -> bool:
        return self.role == self.Role.PARTNER_AGENT

    @property
    def is_new(self) -> bool:
        return self.seen_at is None


def attachment_upload_to(instance, filename: str) -> str:
    # Generated name: the stored path never carries the uploader's file name.
    return f"attachments/{instance.case_id}/{uuid.uuid4().hex}"


class CaseRecord(models.Model):
    """Fields every case record shares. Records a partner agent writes are always shared."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="%(class)ss")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    by_partner = models.BooleanField("Written by a partner agent", default=False)
    shared_with_partners = models.BooleanField("Shared with partners", default=False)
    substance_use = models.BooleanField(
        "Substance-use record (42 CFR Part 2)",
        default=False,
        help_text="Shown to a partner only under a consent that covers substance-use records.",
    )
    created_at = StampField(auto_now_add=True)
    updated_at = StampField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(by_partner=False) | Q(shared_with_partners=True),
                name="%(class)s_partner_records_are_shared",
            )
        ]
        indexes = [
            models.Index(
                fields=["case", "shared_with_partners", "-created_at"], name="%(class)s_by_case"
            )
        ]


class Activity(CaseRecord):
    class Type(models.TextChoices):
        CALL = "call", "Call"
        MEETING = "meeting", "Meeting"
        VISIT = "visit", "Home visit"
        EMAIL = "email", "Email"
        TASK = "task", "Task"
        COURT = "court", "Court date"
        LETTER = "letter", "Letter"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    # Activities that count as an attempt to reach the client.
    CONTACT_TYPES = (Type.CALL, Type.VISIT, Type.LETTER)

    type = models.CharField(max_length=16, choices=Type.choices, default=Type.TASK)
    subject = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)

    class Meta(CaseRecord.Meta):
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.subject


class Attachment(CaseRecord):
    file = models.FileField(upload_to=attachment_upload_to, max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)

    class Meta(CaseRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.original_name


class ServiceRequest(CaseRecord):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    number = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)

    class Meta(CaseRecord.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class Note(CaseRecord):
    body = models.TextField()

    class Meta(CaseRecord.Meta):
        pass

    def __str__(self) -> str:
        return self.body[:60]


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Case events are append-only.")

    def delete(self):
        raise PermissionError("Case events are append-only.")


class CaseEvent(models.Model):
    """Append-only timeline and audit trail of everything that happens to a case."""

    class Verb(models.TextChoices):
        CREATED = "created", "Created the case"
        UPDATED = "updated", "Edited the case"
        TRANSITION = "transition", "Changed the status"
        PARTNER_ADDED = "partner_added", "Associated a partner"
        PARTNER_PRIMARY = "partner_primary", "Made a partner Primary"
        PARTNER_REMOVED = "partner_removed", "Removed a partner"
        TEAM_ADDED = "team_added", "Added to the Case Team"
        TEAM_REMOVED = "team_removed", "Removed from the Case Team"
        ACCEPTED = "accepted", "Accepted the referral"
        DECLINED = "declined", "Declined the referral"
        EXPIRED = "expired", "Referral expired"
        COMPLETED = "completed", "Completed the referral"
        STARTED = "started", "Started work on the referral"
        WAITLISTED = "waitlisted", "Put the referral on the waitlist"
        RESUMED = "resumed", "Took the referral off the waitlist"
        COULD_NOT_HELP = "could_not_help", "Could not help"
        WITHDRAWN = "withdrawn", "Withdrew the referral"
        REFERRED = "referred", "Referred to a partner organization"
        REASSIGNED = "reassigned", "Reassigned the referral"
        ESCALATED = "escalated", "Escalated to the case owner"
        ROUTED = "routed", "Routed automatically"
        VIEWED = "viewed", "Viewed by partner agent"
        RECORD_ADDED = "record_added", "Added a record"
        RECORD_UPDATED = "record_updated", "Updated a record"
        DOWNLOADED = "downloaded", "Downloaded an attachment"
        CONSENT_RECORDED = "consent_recorded", "Recorded a consent"
        CONSENT_REVOKED = "consent_revoked", "Revoked a consent"
        EMERGENCY_ACCESS = "emergency_access", "Granted emergency access"
        ACCESS_ENDED = "access_ended", "A partner's access ended"

    # Verbs that count as partner activity for live oversight and the Referrals board.
    PARTNER_WORK = (
        Verb.ACCEPTED,
        Verb.DECLINED,
        Verb.COMPLETED,
        Verb.STARTED,
        Verb.WAITLISTED,
        Verb.RESUMED,
        Verb.COULD_NOT_HELP,
        Verb.RECORD_ADDED,
        Verb.RECORD_UPDATED,
    )

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_partner = models.BooleanField(default=False)
    verb = models.CharField(max_length=20, choices=Verb.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = StampField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["case", "-created_at"], name="caseevent_by_case")]
        # Append-only in PostgreSQL itself, whatever the client: no row is changed or deleted.
        triggers = [
            pgtrigger.Protect(
                name="caseevent_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.verb} by {self.actor_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Case events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Case events are append-only.")


# Consent ------------------------------------------------------------------------------------


def consent_data_choices() -> list[tuple[str, str]]:
    """What a consent may cover: the case details, each record kind's tab, and the
    sensitive category of substance-use records (42 CFR Part 2)."""
    return [
        (Consent.DETAILS, "Case details"),
        *((kind.slug, kind.label) for kind in RECORD_KINDS),
        (Consent.SUBSTANCE_USE, "Sensitive: substance use (42 CFR Part 2)"),
    ]


class Consent(models.Model):
    """The client's consent to disclose their case to a partner organization (or to every
    partner serving a program): what it covers, from when to when, how it was given, who
    recorded it. Never edited once recorded: a change is a new consent that supersedes this
    one; a revocation is stamped on it (and an event of the case)."""

    DETAILS = "details"
    SUBSTANCE_USE = "substance_use"

    class Method(models.TextChoices):
        SIGNED_FORM = "signed_form", "Signed form (uploaded)"
        VERBAL = "verbal", "Verbal, with a witness"
        ELECTRONIC = "electronic", "Electronic signature"

    # Methods that make a written consent, which the sensitive category requires.
    WRITTEN = (Method.SIGNED_FORM, Method.ELECTRONIC)

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="consents")
    organization = models.ForeignKey(
        PartnerOrganization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents",
        help_text="The partner organization it authorizes (or a program, for all its partners).",
    )
    program = models.ForeignKey(
        Program,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents",
        help_text="Every partner organization serving this program.",
    )
    purpose = models.CharField(max_length=300)
    data = models.JSONField(help_text="What it covers: case details, tabs, sensitive data.")
    starts_on = models.DateField()
    ends_on = models.DateField()
    method = models.CharField(max_length=16, choices=Method.choices)
    document = models.ForeignKey(
        "Attachment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    witness = models.CharField(max_length=200, blank=True)
    # What 42 CFR Part 2 requires of a written consent, when the sensitive category is in it.
    information = models.CharField("Information to be disclosed", max_length=300, blank=True)
    signed_on = models.DateField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = StampField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-starts_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="consent_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(organization__isnull=False, program__isnull=True)
                | Q(organization__isnull=True, program__isnull=False),
                name="consent_one_recipient",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True, revoked_reason="")
                | (Q(revoked_at__isnull=False, revoked_by__isnull=False) & ~Q(revoked_reason="")),
                name="consent_revocation_whole",
            ),
            models.CheckConstraint(
                condition=~Q(method="verbal") | ~Q(witness=""), name="consent_verbal_witnessed"
            ),
            models.CheckConstraint(
                condition=~Q(method="signed_form") | Q(document__isnull=False),
                name="consent_signed_form_uploaded",
            ),
        ]
        indexes = [models.Index(fields=["case", "-starts_on"], name="consent_by_case")]

    def __str__(self) -> str:
        return f"Consent {self.pk} for {self.case_id}"

    @property
    def recipient(self) -> str:
        if self.organization_id:
            return self.organization.name
        return f"Every partner of {self.program.name}"

    @property
    def sensitive(self) -> bool:
        return self.SUBSTANCE_USE in (self.data or [])

    def state_on(self, day) -> str:
        """ "revoked", "superseded", "expired", "future" or "active" on that day."""
        if self.revoked_at is not None:
            return "revoked"
        if getattr(self, "superseded_by", None) is not None:
            return "superseded"
        if day > self.ends_on:
            return "expired"
        if day < self.starts_on:
            return "future"
        return "active"


class EmergencyAccess(models.Model):
    """Break-glass: an agency manager lets a partner organization see a case without a
    consent, for a reason and a few hours (72 by default), after which its access ends
    unless a consent has been recorded. Never the substance-use category."""

    DEFAULT_HOURS = 72

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="emergency_access")
    organization = models.ForeignKey(
        PartnerOrganization, on_delete=models.PROTECT, related_name="emergency_access"
    )
    reason = models.CharField(max_length=300)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = StampField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "emergency access"
        verbose_name_plural = "emergency access"
        ordering = ["-granted_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("granted_at")),
                name="emergency_access_ends_after_grant",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="emergency_access_has_reason"),
        ]
        indexes = [
            models.Index(fields=["case", "organization", "-expires_at"], name="emergency_by_case")
        ]

    def __str__(self) -> str:
        return f"Emergency access of {self.organization_id} to {self.case_id}"


# Assignment Manager (routing) ---------------------------------------------------------------


class AssignmentRule(models.Model):
    """One ordered rule of the Assignment Manager: which Third-Party cases it takes
    (criteria; empty means any), who may get them (a pool of partner organizations and/or
    agents), how one is chosen (strategy), how long the agent has to accept, and what
    happens when the referral lapses. Rules are tried by `order`; the first one that
    matches the case and has an eligible candidate assigns it."""

    class Strategy(models.TextChoices):
        LEAST_LOADED = "least_loaded", "Least loaded"
        ROUND_ROBIN = "round_robin", "Round robin"

    class OnExpiry(models.TextChoices):
        NEXT_CANDIDATE = "next_candidate", "Route to the next candidate"
        ESCALATE = "escalate", "Escalate to the case owner"

    name = models.CharField(max_length=120, unique=True)
    order = models.PositiveIntegerField(default=0, help_text="Rules are tried from low to high.")
    active = models.BooleanField(default=True)
    program = models.ForeignKey(
        Program,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assignment_rules",
        help_text="Empty: any program.",
    )
    region = models.CharField(max_length=64, blank=True, help_text="Empty: any region.")
    language = models.CharField(
        max_length=8, blank=True, help_text="Language code, e.g. es. Empty: any language."
    )
    priority = models.CharField(
        max_length=8, choices=Case.Priority.choices, blank=True, help_text="Empty: any priority."
    )
    organizations = models.ManyToManyField(
        PartnerOrganization,
        blank=True,
        related_name="assignment_rules",
        help_text="Every partner agent (not partner managers) of these organizations.",
    )
    agents = models.ManyToManyField(
        "partners.PartnerAgent",
        blank=True,
        related_name="assignment_rules",
        help_text="Specific partner agents, in addition to the organizations.",
    )
    match_language = models.BooleanField(
        "Candidate must speak the case language",
        default=True,
        help_text="The agent's languages, or the organization's when the agent lists none.",
    )
    match_program = models.BooleanField(
        "Candidate must serve the case program",
        default=True,
        help_text="The agent's programs, or the organization's when the agent lists none.",
    )
    strategy = models.CharField(
        max_length=16, choices=Strategy.choices, default=Strategy.LEAST_LOADED
    )
    round_robin_cursor = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Primary key of the partner agent assigned last."
    )
    response_window_hours = models.PositiveIntegerField(
        "Response window (hours)", default=48, help_text="Time the agent has to accept."
    )
    on_expiry = models.CharField(
        "When the referral expires or is declined",
        max_length=16,
        choices=OnExpiry.choices,
        default=OnExpiry.NEXT_CANDIDATE,
    )
    created_at = StampField(auto_now_add=True)
    updated_at = StampField(auto_now=True)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(response_window_hours__gte=1), name="assignmentrule_window_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name


class RoutingDecision(models.Model):
    """What one routing run decided for one case, and why: the rule, every candidate
    considered with its score or the reason it was excluded, and the winner."""

    class Outcome(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        NO_RULE = "no_rule", "No rule matched"
        NO_CANDIDATE = "no_candidate", "No eligible candidate"
        ESCALATED = "escalated", "Escalated to the case owner"

    class Trigger(models.TextChoices):
        REFERRAL = "referral", "Referred to Third-Party"
        MANUAL = "manual", "Route Automatically"
        BULK = "bulk", "Bulk routing"
        EXPIRY = "expiry", "Referral expired"
        DECLINE = "decline", "Referral declined"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="routing_decisions")
    rule = models.ForeignKey(
        AssignmentRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="decisions",
    )
    rule_name = models.CharField(max_length=120, blank=True, help_text="The rule's name then.")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    candidates = models.JSONField(default=list, blank=True)
    winner = models.ForeignKey(
        "partners.PartnerAgent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="routing_wins",
    )
    explanation = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = StampField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["case", "-created_at"], name="routingdecision_by_case"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.outcome}"


class InboxItem(models.Model):
    """Something about a case that its owner must see: a referral escalated to them,
    declined, expired, failed ("could not help") or completed. The referral services add
    items; the owner marks them done (and may reopen them). Open items are those without
    `done_at`; `done_by` is set only together with it."""

    class Kind(models.TextChoices):
        ESCALATED = "escalated", "Escalated to you"
        DECLINED = "declined", "Referral declined"
        EXPIRED = "expired", "Referral expired"
        FAILED = "failed", "Partner could not help"
        COMPLETED = "completed", "Referral completed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_items"
    )
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="inbox_items")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.CharField(max_length=300, help_text="What happened, in one line.")
    created_at = StampField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(done_by__isnull=True) | Q(done_at__isnull=False),
                name="inboxitem_done_by_needs_done_at",
            ),
        ]
        indexes = [
            # The Inbox page and the navigation count: a user's open items, newest first.
            models.Index(
                fields=["user", "-created_at", "-id"],
                condition=Q(done_at__isnull=True),
                name="inboxitem_user_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.case_id}"
