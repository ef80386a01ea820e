"""Cases, their partners, case team, records and the append-only event trail."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from partners.models import PartnerOrganization, Tab

from .languages import language_name


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

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
            ("view_case_activities", "Can view the Activities tab"),
            ("view_case_attachments", "Can view the Attachments tab"),
            ("view_case_servicerequests", "Can view the Service Requests tab"),
            ("view_case_notes", "Can view the Notes tab"),
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

    @transition(
        field=status, source=Status.OPEN, target=Status.APPROVED, permission="cases.approve_case"
    )
    def approve(self):
        """Approve the case: it met the eligibility criteria."""

    @transition(
        field=status, source=Status.OPEN, target=Status.DENIED, permission="cases.deny_case"
    )
    def deny(self):
        """Deny the case."""

    @transition(
        field=status,
        source=Status.APPROVED,
        target=Status.THIRD_PARTY,
        permission="cases.refer_case",
        custom={"label": "Refer to Third-Party"},
    )
    def refer(self):
        """Refer the approved case to a third-party partner."""

    @transition(
        field=status,
        source=Status.THIRD_PARTY,
        target=Status.APPROVED,
        permission="cases.recall_case",
        custom={"label": "Recall Referral"},
    )
    def recall(self):
        """Take the case back from the partner."""

    @transition(
        field=status,
        source=[Status.APPROVED, Status.DENIED, Status.THIRD_PARTY],
        target=Status.CLOSED,
        permission="cases.close_case",
        custom={"label": "Close Case"},
    )
    def close(self):
        """Close the case."""

    @transition(
        field=status, source=Status.CLOSED, target=Status.OPEN, permission="cases.reopen_case"
    )
    def reopen(self):
        """Reopen a closed case."""


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
    added_at = models.DateTimeField(auto_now_add=True)

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


class CaseTeamMember(ConcurrentTransitionMixin, models.Model):
    """A user on a case team. Partner agents also carry a referral state (FSM)."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        AGENCY = "agency", "Agency member"
        PARTNER_AGENT = "partner_agent", "Partner agent"

    class Referral(models.TextChoices):
        NONE = "", "—"
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        WITHDRAWN = "withdrawn", "Withdrawn"
        COMPLETED = "completed", "Completed"

    class DeclineReason(models.TextChoices):
        NO_CAPACITY = "no_capacity", "No capacity"
        CONFLICT = "conflict", "Conflict of interest"
        OUT_OF_AREA = "out_of_area", "Out of service area"
        NOT_ELIGIBLE = "not_eligible", "Not eligible"
        OTHER = "other", "Other"

    OPEN_REFERRAL_STATES = (Referral.PENDING, Referral.ACCEPTED)

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
    referral_state = FSMField(
        max_length=16, choices=Referral.choices, default=Referral.NONE, blank=True, protected=True
    )
    decline_reason = models.CharField(max_length=16, choices=DeclineReason.choices, blank=True)
    decline_note = models.TextField(blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="Empty: the New asterisk.")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

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
                condition=~Q(referral_state="declined") | ~Q(decline_reason=""),
                name="caseteam_decline_has_reason",
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
            models.Index(
                fields=["referral_state", "expires_at"],
                condition=Q(referral_state="pending"),
                name="caseteam_pending_expiry",
            ),
            # The New count (navigation, My Cases): only the unseen active rows, so the
            # count is an index-only scan of a few entries even for the heaviest agent.
            models.Index(
                fields=["user"],
                condition=Q(is_active=True, seen_at__isnull=True),
                name="caseteam_new",
            ),
            models.Index(
                fields=["organization"],
                condition=Q(is_active=True, seen_at__isnull=True),
                name="caseteam_org_new",
            ),
            # The My Cases total: COUNT(*) of an agent's (an organization's) active rows. A
            # one-column key deduplicates, so counting the heaviest agent's thousands of rows
            # reads a few index pages instead of the wider caseteam_mycases entries.
            models.Index(fields=["user"], condition=Q(is_active=True), name="caseteam_active"),
            models.Index(
                fields=["organization"], condition=Q(is_active=True), name="caseteam_org_active"
            ),
            # The Referrals board sorts every Third-Party case by its oldest pending referral
            # or, without an agent, by when it was referred: two probes per case, answered
            # from these small indexes alone (no table rows read).
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
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.case.number}"

    @property
    def is_partner(self) -> bool:
        return self.role == self.Role.PARTNER_AGENT

    @property
    def is_new(self) -> bool:
        return self.seen_at is None

    @transition(field=referral_state, source=Referral.PENDING, target=Referral.ACCEPTED)
    def accept(self):
        """The partner agent takes the case."""

    @transition(field=referral_state, source=Referral.PENDING, target=Referral.DECLINED)
    def decline(self):
        """The partner agent turns the case down (the service records the reason)."""

    @transition(field=referral_state, source=Referral.PENDING, target=Referral.EXPIRED)
    def expire(self):
        """Nobody accepted within the response window."""

    @transition(
        field=referral_state,
        source=[Referral.PENDING, Referral.ACCEPTED],
        target=Referral.WITHDRAWN,
    )
    def withdraw(self):
        """The agency takes the referral back from this agent."""

    @transition(field=referral_state, source=Referral.ACCEPTED, target=Referral.COMPLETED)
    def complete(self):
        """The partner finished the work."""

    @transition(
        field=referral_state,
        source=[Referral.DECLINED, Referral.EXPIRED, Referral.WITHDRAWN, Referral.COMPLETED],
        target=Referral.PENDING,
    )
    def rerefer(self):
        """Refer the case to this agent again (added back to the team)."""


def attachment_upload_to(instance, filename: str) -> str:
    # Generated name: the stored path never carries the uploader's file name.
    return f"attachments/{instance.case_id}/{uuid.uuid4().hex}"


class CaseRecord(models.Model):
    """Fields every case record shares. Records a partner agent writes are always shared."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="%(class)ss")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    by_partner = models.BooleanField("Written by a partner agent", default=False)
    shared_with_partners = models.BooleanField("Shared with partners", default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

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
        REASSIGNED = "reassigned", "Reassigned the referral"
        ESCALATED = "escalated", "Escalated to the case owner"
        ROUTED = "routed", "Routed automatically"
        VIEWED = "viewed", "Viewed by partner agent"
        RECORD_ADDED = "record_added", "Added a record"
        RECORD_UPDATED = "record_updated", "Updated a record"
        DOWNLOADED = "downloaded", "Downloaded an attachment"

    # Verbs that count as partner activity for live oversight and the Referrals board.
    PARTNER_WORK = (
        Verb.ACCEPTED,
        Verb.DECLINED,
        Verb.COMPLETED,
        Verb.RECORD_ADDED,
        Verb.RECORD_UPDATED,
    )

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    by_partner = models.BooleanField(default=False)
    verb = models.CharField(max_length=20, choices=Verb.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["case", "-created_at"], name="caseevent_by_case")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.verb} by {self.actor_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Case events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Case events are append-only.")


TAB_PERMISSIONS = {
    Tab.ACTIVITIES: "view_case_activities",
    Tab.ATTACHMENTS: "view_case_attachments",
    Tab.SERVICE_REQUESTS: "view_case_servicerequests",
    Tab.NOTES: "view_case_notes",
}


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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["case", "-created_at"], name="routingdecision_by_case"),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.outcome}"
