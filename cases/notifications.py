"""Email notifications of referrals, sent by the task worker (django-tasks).

A change that rolls back sends nothing. With the database task backend (production) the
task row is written in the same transaction as the change, so the two commit or roll back
together, and no email is lost between a commit and a callback; with any other backend
(the tests run tasks immediately) the task is queued by `transaction.on_commit`.
The task gets ids only, so no personal data sits in the task queue, and it reads the
current state when it runs. Emails carry the case number and a link, never the Case Name,
the applicant or any internal field: whoever reads the mailbox must sign in to see more.
"""

from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from accounts.people import display_name

from .models import Case, Referral, RoutingDecision

OWNER_KINDS = ("accepted", "declined", "expired", "completed", "failed")
KINDS = ("assignment", *OWNER_KINDS, "escalated")


def enqueue_with_transaction(task, **kwargs) -> None:
    """Queue `task` so that it exists only if the current transaction commits."""
    if _queue_is_transactional(task):
        task.enqueue(**kwargs)
    else:
        transaction.on_commit(partial(task.enqueue, **kwargs), robust=True)


def _queue_is_transactional(task) -> bool:
    try:
        from django_tasks_db.backend import DatabaseBackend
    except ImportError:  # pragma: no cover - the backend is a dependency
        return False
    return isinstance(task.get_backend(), DatabaseBackend)


def _on_commit(**kwargs) -> None:
    from .tasks import send_notification

    enqueue_with_transaction(send_notification, **kwargs)


def notify_assignment(*, referral: Referral) -> None:
    """A partner agent was referred a case."""
    _on_commit(kind="assignment", referral_id=referral.pk)


def notify_owner(*, referral: Referral, what: str) -> None:
    """The partner accepted, declined, completed or could not help, or the referral
    expired: the case owner is told."""
    if what not in OWNER_KINDS:
        raise ValueError(f"Unknown owner notification {what!r}")
    _on_commit(kind=what, referral_id=referral.pk)


def reroute_after_decline(*, referral: Referral) -> None:
    """Queue the re-routing of a declined referral's case for the worker, with the decline:
    a decline that rolls back re-routes nothing."""
    from .tasks import reroute_after_decline as task

    enqueue_with_transaction(task, referral_id=referral.pk)


def notify_escalation(*, case: Case, decision: RoutingDecision) -> None:
    """Nobody is left to take the case: it is back with its owner."""
    _on_commit(kind="escalated", case_id=case.pk, decision_id=decision.pk)


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def portal_case_url(case_pk: int) -> str:
    return _absolute(f"/portal/cases/{case_pk}/")


def agency_case_url(case_pk: int) -> str:
    try:
        path = reverse("cases:detail", args=[case_pk])
    except NoReverseMatch:
        path = f"/cases/{case_pk}/"
    return _absolute(path)


def deliver(
    *,
    kind: str,
    referral_id: int | None = None,
    case_id: int | None = None,
    decision_id: int | None = None,
) -> bool:
    """Build and send one notification (in the worker). False when there is nothing to
    send: the referral was withdrawn before the email went out, or nobody has an address."""
    if kind not in KINDS:
        raise ValueError(f"Unknown notification {kind!r}")
    referral = decision = None
    if referral_id is not None:
        referral = (
            Referral.objects.select_related("case__owner", "agent", "organization")
            .filter(pk=referral_id)
            .first()
        )
        if referral is None:
            return False
        case = referral.case
    else:
        case = Case.objects.select_related("owner").filter(pk=case_id).first()
        if case is None:
            return False
        decision = RoutingDecision.objects.filter(pk=decision_id, case=case).first()
    if kind == "assignment":
        if referral.agent is None or referral.state != Referral.State.PENDING:
            return False
        recipient, link = referral.agent.email, portal_case_url(case.pk)
    else:
        recipient, link = case.owner.email, agency_case_url(case.pk)
    if not recipient:
        return False
    agent = referral.agent if referral else None
    context = {
        "number": case.number,
        "link": link,
        "referral": referral,
        "agent_name": display_name(agent) if agent else "",
        "organization": referral.organization.name if referral else "",
        "decline_reason": referral.get_reason_display() if referral else "",
        "outcome": referral.get_outcome_display() if referral else "",
        "expires_at": referral.due_at if referral else None,
        "reason": decision.explanation if decision else "",
    }
    subject = " ".join(render_to_string(f"cases/email/{kind}_subject.txt", context).split())
    body = render_to_string(f"cases/email/{kind}.txt", context)
    send_mail(subject, body, None, [recipient])
    return True
