"""Wires the Assignment Manager into the case services (called from CasesConfig.ready)."""

from .. import notifications, services
from .services import route_after_refer


def owner_notice(*, member, what: str) -> None:
    """Tell the case owner; after a decline also queue the re-routing (with the decline:
    a decline that rolls back re-routes nothing)."""
    notifications.notify_owner(member=member, what=what)
    if what == "declined":
        from ..tasks import reroute_after_decline

        notifications.enqueue_with_transaction(reroute_after_decline, member_id=member.pk)


def register() -> None:
    """Idempotent: route after a referral, and send the notifications by email."""
    if route_after_refer not in services.after_refer_hooks:
        services.after_refer_hooks.append(route_after_refer)
    services.notification_handlers["notify_assignment"] = notifications.notify_assignment
    services.notification_handlers["notify_owner"] = owner_notice
