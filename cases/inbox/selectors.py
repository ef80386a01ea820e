"""Reads of the Inbox: always one user's own items, so another user's item is simply not
there (404 in the views)."""

from django.db.models import QuerySet

from ..models import InboxItem

SHOW = {"open": "Open", "done": "Done", "all": "All"}


def inbox_items_for_user(*, user, show: str = "open", kind: str = "") -> QuerySet[InboxItem]:
    """`user`'s items, newest first, with their cases: open ones (`show="open"`), done ones
    ("done") or all ("all"), optionally of one `kind`. Unknown values filter nothing away
    but the other users' items."""
    items = InboxItem.objects.filter(user=user)
    if show == "open":
        items = items.filter(done_at__isnull=True)
    elif show == "done":
        items = items.filter(done_at__isnull=False)
    if kind in InboxItem.Kind.values:
        items = items.filter(kind=kind)
    return items.select_related("case", "done_by").order_by("-created_at", "-pk")


def inbox_open_count(*, user) -> int:
    """How many open items `user` has: one COUNT on the partial index of open items."""
    return InboxItem.objects.filter(user=user, done_at__isnull=True).order_by().count()
