"""Who is who: the four roles of Caseworks and the checks that separate agency from partner.

Roles are Django groups (created by a data migration; what each may do is granted by the
cases app, cases/roles.py). A partner user is any user
with a partner agent profile; partner users are never agency staff, whatever groups they hold.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied


class Role:
    AGENCY_MANAGER = "Agency Manager"
    AGENCY_CASEWORKER = "Agency Caseworker"
    PARTNER_AGENT = "Partner Agent"
    PARTNER_MANAGER = "Partner Manager"

    AGENCY = (AGENCY_MANAGER, AGENCY_CASEWORKER)
    PARTNER = (PARTNER_AGENT, PARTNER_MANAGER)
    ALL = (AGENCY_MANAGER, AGENCY_CASEWORKER, PARTNER_AGENT, PARTNER_MANAGER)


def _group_names(user) -> set[str]:
    cached = getattr(user, "_caseworks_group_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._caseworks_group_names = cached
    return cached


def is_partner_user(user) -> bool:
    """A partner user has a partner agent profile or a partner group; never agency staff."""
    if not user.is_authenticated:
        return False
    if hasattr(user, "partner_agent"):
        return True
    return bool(_group_names(user) & set(Role.PARTNER))


def is_agency_user(user) -> bool:
    """Agency staff: an active member of an agency group, or a superuser, and not a partner."""
    if not user.is_authenticated or not user.is_active or is_partner_user(user):
        return False
    return user.is_superuser or bool(_group_names(user) & set(Role.AGENCY))


def agency_required(view):
    """Agency pages: anonymous users were already sent to sign in by the middleware;
    everybody else who is not agency staff (partner users above all) gets 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_agency_user(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
