"""Object permissions of the Partner Portal: the one declared list, and the only code that
grants or revokes them (called from services when the case team changes).

Per-user grants go to the partner agents on a case team; group grants go to the managers
group of each partner organization that has an agent on the case. Both use guardian's
direct foreign-key models (`CaseUserObjectPermission`, `CaseGroupObjectPermission`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from guardian.core import ObjectPermissionChecker

from partners.models import PartnerOrganization
from partners.services import organization_managers_group

from .models import Case, CaseGroupObjectPermission, CaseUserObjectPermission
from .records import KINDS, RECORD_KINDS

if TYPE_CHECKING:
    from django.contrib.auth.models import User

VIEW_CASE = "view_case"
WORK_CASE = "work_case"
# Every codename a partner may ever hold on a case.
PARTNER_CODENAMES = (VIEW_CASE, WORK_CASE, *(kind.permission for kind in RECORD_KINDS))


@dataclass(frozen=True)
class CaseTab:
    """A view tab of the portal's case page and the object permission it needs."""

    slug: str
    label: str
    permission: str


PORTAL_TABS = tuple(CaseTab(kind.slug, kind.label, kind.permission) for kind in RECORD_KINDS)


def _permission_ids() -> dict[str, int]:
    content_type = ContentType.objects.get_for_model(Case)
    return dict(
        Permission.objects.filter(
            content_type=content_type, codename__in=PARTNER_CODENAMES
        ).values_list("codename", "id")
    )


def codenames_for_tabs(tabs: Iterable[str]) -> list[str]:
    """The permissions a partner agent gets for the given tabs (unknown tabs are ignored)."""
    chosen = [KINDS[t].permission for t in tabs if t in KINDS]
    return [VIEW_CASE, WORK_CASE, *chosen]


def grant_partner_agent(*, user: "User", case: Case, tabs: Iterable[str]) -> None:
    """Grant a partner agent on the case team exactly the permissions for `tabs`."""
    grant_many(agents=[(user.pk, case.pk, tabs)], managers=[])


def revoke_partner_agent(*, user: "User", case: Case) -> None:
    """Take every case permission away from a user who leaves the case team."""
    CaseUserObjectPermission.objects.filter(user=user, content_object=case).delete()


def sync_organization_managers(
    *, organization: PartnerOrganization, case: Case, tabs: Iterable[str] | None
) -> None:
    """Managers of an organization see the case while any of its agents is on the team,
    with the union of the tabs granted to those agents; nothing once none is left."""
    group = organization_managers_group(organization)
    grant_many(agents=[], managers=[(group.pk, case.pk, tabs)])


def grant_many(
    *,
    agents: Sequence[tuple[int, int, Iterable[str]]],
    managers: Sequence[tuple[int, int, Iterable[str] | None]],
) -> None:
    """Exactly the permissions for the tabs: for partner agents, given as `(user id, case id,
    tabs)`, and for organizations' managers groups, as `(group id, case id, tabs or None)`
    (None: no permission at all). A fixed number of statements whatever their number, so
    that one grant and bulk routing's hundreds take the same path."""
    if not agents and not managers:
        return
    # Taking every permission away needs no permission ids.
    ids = _permission_ids() if any(t is not None for *_, t in (*agents, *managers)) else {}

    def wanted(
        items: Iterable[tuple[int, int, Iterable[str] | None]],
    ) -> dict[tuple[int, int], set[int]]:
        return {
            (holder, case): set() if tabs is None else {ids[c] for c in codenames_for_tabs(tabs)}
            for holder, case, tabs in items
        }

    if agents:
        _sync_many(CaseUserObjectPermission, "user_id", wanted(agents))
    if managers:
        _sync_many(CaseGroupObjectPermission, "group_id", wanted(managers))


def _sync_many(
    model: type[CaseUserObjectPermission] | type[CaseGroupObjectPermission],
    holder: str,
    wanted: dict[tuple[int, int], set[int]],
) -> None:
    """Make the grants of each (holder id, case id) pair exactly its wanted permission ids."""
    holders = {h for h, _ in wanted}
    cases = {c for _, c in wanted}
    rows = model.objects.filter(
        **{f"{holder}__in": holders}, content_object_id__in=cases
    ).values_list("pk", holder, "content_object_id", "permission_id")
    stale, have = [], set()
    for pk, h, c, permission_id in rows:
        if (h, c) not in wanted:
            continue  # another pair of the same holders and cases: not ours to touch
        if permission_id in wanted[h, c]:
            have.add((h, c, permission_id))
        else:
            stale.append(pk)
    if stale:
        model.objects.filter(pk__in=stale).delete()
    model.objects.bulk_create(
        [
            model(**{holder: h}, content_object_id=c, permission_id=pid)
            for (h, c), pids in wanted.items()
            for pid in sorted(pids)
            if (h, c, pid) not in have
        ]
    )


def checker_for(user: "User") -> ObjectPermissionChecker:
    return ObjectPermissionChecker(user)


def visible_tabs(
    *, user: "User", case: Case, checker: ObjectPermissionChecker | None = None
) -> list[CaseTab]:
    """The portal tabs this user may open on this case (one permission query)."""
    checker = checker or ObjectPermissionChecker(user)
    granted = set(checker.get_perms(case))
    return [tab for tab in PORTAL_TABS if tab.permission in granted]
