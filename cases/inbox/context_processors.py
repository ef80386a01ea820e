"""The Inbox count of the agency navigation."""

from functools import cache

from accounts.roles import is_agency_user

from . import selectors


def inbox(request):
    """`inbox_open_count` for agency staff: a callable the template calls, so the one small
    COUNT runs only on pages that show it, and once however often they do. Nothing for
    anonymous visitors and partner users."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not is_agency_user(user):
        return {}
    return {"inbox_open_count": cache(lambda: selectors.inbox_open_count(user=user))}
