"""Template helpers of referral partials (agency and portal)."""

from django import template

from .. import selectors

register = template.Library()


@register.simple_tag
def referral_timing(referral):
    """The referral's deadline as people say it (a `selectors.Timing`), or None."""
    if referral is None:
        return None
    return selectors.referral_timing(referral=referral)
