"""Writes of the Inbox. Only the recipient marks an item done or reopens it: the Inbox is a
personal to-do list, so nobody else (managers included) changes what it shows."""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from casesite import clock

from ..models import Case, InboxItem


def _require_recipient(actor, item: InboxItem) -> None:
    """Only the item's recipient may change it; 403 for anybody else."""
    if actor is None or actor.pk != item.user_id:
        raise PermissionDenied("This is not your Inbox item.")


@transaction.atomic
def inbox_item_add(*, user, case: Case, kind: str, text: str) -> InboxItem | None:
    """Put an item in `user`'s Inbox. Nobody to tell (no user, or a deactivated one) is
    not an error: the referral service that calls this goes on, and nothing is added."""
    if user is None or not user.is_active:
        return None
    kind = InboxItem.Kind(kind)
    return InboxItem.objects.create(user=user, case=case, kind=kind, text=text[:300])


@transaction.atomic
def inbox_item_done(*, actor, item: InboxItem) -> InboxItem:
    """Mark the item done. Marking a done item again changes nothing (a second click or a
    resubmitted form keeps the first time and person)."""
    _require_recipient(actor, item)
    item = InboxItem.objects.select_for_update().get(pk=item.pk)
    if item.done_at is None:
        item.done_at = clock.now()
        item.done_by = actor
        item.save(update_fields=["done_at", "done_by"])
    return item


@transaction.atomic
def inbox_item_reopen(*, actor, item: InboxItem) -> InboxItem:
    """Put a done item back among the open ones (idempotent)."""
    _require_recipient(actor, item)
    item = InboxItem.objects.select_for_update().get(pk=item.pk)
    if item.done_at is not None:
        item.done_at = None
        item.done_by = None
        item.save(update_fields=["done_at", "done_by"])
    return item
