"""What each role may do: the model-level permissions of its group.

The roles themselves (names, who is agency and who is partner) are in accounts.roles. The
record kinds' permissions come from their one declaration (cases.records)."""

from accounts.roles import Role

from .records import RECORD_KINDS

# Model-level permissions of each role ("app_label.codename"). Partner roles hold none:
# django-fsm falls back to model-level permissions, so a partner must never have any.
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
    "cases.view_consent",
    "cases.add_consent",
    "cases.change_consent",
    "cases.view_emergencyaccess",
    "partners.view_partnerorganization",
    "partners.view_partneragent",
    *(kind.model_permission(verb) for kind in RECORD_KINDS for verb in ("view", "add", "change")),
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
        "cases.add_emergencyaccess",
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
