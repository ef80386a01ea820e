"""Template helpers of the Assignment Manager's partials."""

from django import template

register = template.Library()


@register.filter
def has_partner_agent(members) -> bool:
    """Is a partner agent active on the Case Team? `members`: CaseTeamMember rows (the
    Case Team tab's list); anything else counts as "don't know" (False)."""
    try:
        return any(m.is_active and m.is_partner for m in members)
    except (TypeError, AttributeError):
        return False
