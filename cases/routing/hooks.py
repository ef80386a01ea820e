"""The Assignment Manager's answer to the case services' one signal (connected when the
cases app is ready): a case referred to Third-Party without a partner agent is routed in
the referral's own transaction."""

from django.dispatch import receiver

from ..signals import case_needs_partner
from .services import route_after_refer


@receiver(case_needs_partner, dispatch_uid="cases.routing.route_after_refer")
def route_referred_case(*, case, actor, **kwargs) -> None:
    route_after_refer(case=case, actor=actor)
