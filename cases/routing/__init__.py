"""The Assignment Manager: ordered rules route Third-Party cases to partner agents, each
decision is stored with its reasons, and lapsed referrals are re-routed or escalated.

    engine     the decision, as plain Python (shared by routing and the dry run)
    selectors  reads: rules, the unassigned queue, decisions, the dry run
    services   writes: routing, expiry, rules
    forms      the rule form of the agency UI
"""

from .selectors import latest_routing_decision, routing_dry_run, unassigned_cases
from .services import (
    NotRoutable,
    case_route,
    cases_route_unassigned,
    referral_after_decline,
    referrals_expire_overdue,
)

__all__ = [
    "NotRoutable",
    "case_route",
    "cases_route_unassigned",
    "latest_routing_decision",
    "referral_after_decline",
    "referrals_expire_overdue",
    "routing_dry_run",
    "unassigned_cases",
]
