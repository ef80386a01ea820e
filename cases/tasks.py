"""Background tasks (django-tasks). Run them with the database worker:

    python manage.py db_worker

Tests run them immediately (TASKS_BACKEND=ImmediateBackend).
"""

from datetime import timedelta

from django.utils import timezone
from django_tasks import task


@task()
def send_notification(
    *,
    kind: str,
    referral_id: int | None = None,
    case_id: int | None = None,
    decision_id: int | None = None,
) -> bool:
    """Send one referral email (see cases.notifications)."""
    from .notifications import deliver

    return deliver(kind=kind, referral_id=referral_id, case_id=case_id, decision_id=decision_id)


@task()
def reroute_after_decline(*, referral_id: int) -> str:
    """After a decline committed: route the case to the next candidate or escalate."""
    from .routing import referral_after_decline

    decision = referral_after_decline(referral_id=referral_id)
    return decision.outcome if decision else "nothing to do"


@task()
def expire_overdue_referrals(*, every_minutes: int = 0) -> dict:
    """The periodic job (idempotent): end the partner access whose consent or emergency
    access has run out (requests never wait for this: they check the consents themselves),
    then expire pending referrals past their window and re-route or escalate them.

    With `every_minutes` the task queues its next run, so one enqueue keeps the job
    going under the worker (`manage.py route_expired --enqueue --every 5`)."""
    from .routing import referrals_expire_overdue
    from .services import access_end_lapsed

    access_ended = access_end_lapsed()
    counts = dict(referrals_expire_overdue())
    if access_ended:
        counts["access_ended"] = access_ended
    if every_minutes > 0 and expire_overdue_referrals.get_backend().supports_defer:
        expire_overdue_referrals.using(
            run_after=timezone.now() + timedelta(minutes=every_minutes)
        ).enqueue(every_minutes=every_minutes)
    return counts
