"""Who is who: the four roles of Caseworks and the checks that separate agency from partner.

Roles are Django groups (created by a data migration in this app). A partner user is any user
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


# Model-level permissions of each role ("app_label.codename"). Partner roles hold none:
# django-fsm falls back to model-level permissions, so a partner must never have any.
_RECORDS = ("activity", "attachment", "servicerequest", "note")
_CASEWORK = (
    "cases.view_case",
    "cases.add_case",
    "cases.change_case",
    "cases.close_case",
    "cases.reopen_case",
    "cases.view_casepartner",
    "cases.add_casepartner",
    "cases.change_casepartner",
    "cases.delete_casepartner",
    "cases.view_caseteammember",
    "cases.add_caseteammember",
    "cases.change_caseteammember",
    "cases.delete_caseteammember",
    "cases.view_caseevent",
    "partners.view_partnerorganization",
    "partners.view_partneragent",
    *(f"cases.{verb}_{model}" for model in _RECORDS for verb in ("view", "add", "change")),
)
ROLE_PERMISSIONS = {
    Role.AGENCY_CASEWORKER: _CASEWORK,
    Role.AGENCY_MANAGER: (
        *_CASEWORK,
        "cases.approve_case",
        "cases.deny_case",
        "cases.refer_case",
        "cases.recall_case",
        "cases.route_case",
    ),
    Role.PARTNER_AGENT: (),
    Role.PARTNER_MANAGER: (),
}


def sync_roles(apps=None) -> None:
    """Create the role groups and give each exactly its model-level permissions.

    Idempotent; run by a data migration (with historical `apps`), by `load_demo` and by
    the test factories after a transactional test flushed the tables."""
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = Permission.objects.none()
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted = wanted | Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            )
        group.permissions.set(wanted)
