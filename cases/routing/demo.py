"""Demo routing rules (called by the demo loader after the partner directory exists)."""

from django.db import transaction

from partners.models import PartnerOrganization

from ..models import AssignmentRule, Case

NORTHSIDE = "Northside Legal Aid"
HOUSING = "County Housing Authority"
Strategy = AssignmentRule.Strategy
OnExpiry = AssignmentRule.OnExpiry


def _demo_rules() -> list[dict]:
    # Every active demo rule sends cases to Northside Legal Aid, so that referring any demo
    # case as `manager` routes it there; the last rule asks for neither language nor
    # program, so it catches what the others pass over.
    return [
        {
            "name": "Urgent cases: Northside Legal Aid in turn",
            "priority": Case.Priority.URGENT,
            "organizations": [NORTHSIDE],
            "strategy": Strategy.ROUND_ROBIN,
            "response_window_hours": 24,
            "on_expiry": OnExpiry.ESCALATE,
            "match_language": True,
            "match_program": False,
        },
        {
            "name": "Spanish-speaking cases: Northside Legal Aid",
            "language": "es",
            "organizations": [NORTHSIDE],
            "strategy": Strategy.LEAST_LOADED,
            "response_window_hours": 48,
            "on_expiry": OnExpiry.NEXT_CANDIDATE,
            "match_language": True,
            "match_program": False,
        },
        {
            "name": "Eastside cases: County Housing Authority (example)",
            "active": False,
            "region": "Eastside",
            "organizations": [HOUSING],
            "strategy": Strategy.LEAST_LOADED,
            "response_window_hours": 72,
            "on_expiry": OnExpiry.ESCALATE,
            "match_language": True,
            "match_program": True,
        },
        {
            "name": "All other cases: Northside Legal Aid, least loaded",
            "organizations": [NORTHSIDE],
            "strategy": Strategy.LEAST_LOADED,
            "response_window_hours": 72,
            "on_expiry": OnExpiry.NEXT_CANDIDATE,
            "match_language": False,
            "match_program": False,
        },
    ]


@transaction.atomic
def load_demo_rules() -> int:
    """Create the demo rules that do not exist yet (by name); returns how many were made.

    Idempotent, and it leaves rules a manager has edited alone. Run it after the demo
    organizations and agents exist: referring a demo case then routes it to a Northside
    Legal Aid agent, with the reason on the case page."""
    organizations = {o.name: o for o in PartnerOrganization.objects.all()}
    existing = set(AssignmentRule.objects.values_list("name", flat=True))
    order = max(AssignmentRule.objects.values_list("order", flat=True), default=0)
    created = 0
    for spec in _demo_rules():
        spec = dict(spec)
        pool = [organizations[n] for n in spec.pop("organizations") if n in organizations]
        if spec["name"] in existing or not pool:
            continue
        order += 1
        rule = AssignmentRule.objects.create(order=order, **spec)
        rule.organizations.set(pool)
        created += 1
    return created
