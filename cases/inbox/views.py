"""The case owner's Inbox (agency staff): the items, filtered by Open / Done / All and by
kind (both kept in the URL), 25 a page; "Mark done" and "Reopen" are POST-only.

An item is looked up inside the user's own items, so another user's item is 404. With
htmx the buttons get the table again (and the navigation count, out of band); without
script they redirect back to the same filters and page with a message.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from accounts.roles import agency_required

from ..models import InboxItem
from ..views import PER_PAGE, _is_partial, _paginate, _vary
from . import selectors, services


def _filters(params) -> dict[str, str]:
    """The Inbox filters of a query string or form: unknown values fall back to the default."""
    show = params.get("show", "open")
    kind = params.get("kind", "")
    return {
        "show": show if show in selectors.SHOW else "open",
        "kind": kind if kind in InboxItem.Kind.values else "",
    }


def _page_number(params) -> str:
    number = params.get("page", "")
    return number if number.isdigit() else ""


def _in_url(filters: dict[str, str]) -> dict[str, str]:
    """The filters that differ from the default (open items of every kind)."""
    return {k: v for k, v in filters.items() if v and (k, v) != ("show", "open")}


def _inbox_url(filters: dict[str, str], page: str = "") -> str:
    params = {**_in_url(filters), **({"page": page} if page else {})}
    url = reverse("cases:inbox")
    return f"{url}?{urlencode(params)}" if params else url


def _context(request, filters: dict[str, str], number) -> dict:
    items = selectors.inbox_items_for_user(user=request.user, **filters)
    page, pagination = _paginate(
        items, number=number, per_page=PER_PAGE, url=reverse("cases:inbox"), params=_in_url(filters)
    )
    return {
        "items": list(page),
        "page": page,
        "pagination": pagination,
        "show": filters["show"],
        "kind": filters["kind"],
        "shows": selectors.SHOW.items(),
        "kinds": InboxItem.Kind.choices,
    }


def _own_item_or_404(user, item_pk) -> InboxItem:
    """The item among `user`'s own (open or done): anybody else's, like a missing one, 404."""
    item = selectors.inbox_items_for_user(user=user, show="all").filter(pk=item_pk).first()
    if item is None:
        raise Http404
    return item


@agency_required
def inbox(request):
    context = _context(request, _filters(request.GET), request.GET.get("page"))
    return render(request, "cases/inbox.html", context)


def _after_change(request, message: str):
    """The table again for htmx (same filters and page), else back to them (PRG)."""
    messages.success(request, message)
    filters, number = _filters(request.POST), _page_number(request.POST)
    if _is_partial(request):
        context = {**_context(request, filters, number), "partial": True}
        return _vary(render(request, "cases/includes/inbox_results.html", context))
    return redirect(_inbox_url(filters, number))


@agency_required
@require_POST
def inbox_done(request, item_pk):
    item = _own_item_or_404(request.user, item_pk)
    services.inbox_item_done(actor=request.user, item=item)
    return _after_change(request, f"“{item.get_kind_display()}” of case {item.case.number} done.")


@agency_required
@require_POST
def inbox_reopen(request, item_pk):
    item = _own_item_or_404(request.user, item_pk)
    services.inbox_item_reopen(actor=request.user, item=item)
    return _after_change(
        request, f"“{item.get_kind_display()}” of case {item.case.number} reopened."
    )


urlpatterns = [
    path("inbox/", inbox, name="inbox"),
    path("inbox/<int:item_pk>/done/", inbox_done, name="inbox_done"),
    path("inbox/<int:item_pk>/reopen/", inbox_reopen, name="inbox_reopen"),
]
