"""The portal's front door: only partner users get past it."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from accounts.roles import is_partner_user


def portal_login_required(view):
    """Anonymous visitors of a portal page go to the portal's own sign-in."""
    wrapped = login_required(view, login_url="portal:login")
    # Class-based auth views carry login_url=None from their dispatch(); the middleware
    # reads this attribute, so set it after wrapping.
    wrapped.login_url = "portal:login"
    return wrapped


def partner_required(view):
    """Portal pages: anonymous users go to the portal sign-in; agency staff and accounts
    without a partner profile get 403 (they have no portal)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_partner_user(request.user) or not hasattr(request.user, "partner_agent"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return portal_login_required(wrapper)
