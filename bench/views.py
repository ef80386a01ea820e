"""Baseline pages for `make bench`, routed only by bench.urls (bench.settings).

B0 `/bench/b0/`: the cheapest response the stack gives (no session, template or query).
B1 `/portal/bench/b1/`: a signed-in partner's empty page on the real Partner Portal layout:
the same middleware, sign-in, partner check (as `portal.access.partner_required`), context
processors and `portal/base.html` as My Cases, with an empty content block. The ratio
My Cases / B1 is then the cost of the page's own content.
"""

from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.http import require_GET

from accounts.roles import is_partner_user

EMPTY_PORTAL_PAGE = (
    '{% extends "portal/base.html" %}{% block title %}Bench{% endblock %}'
    "{% block content %}<h1>Bench</h1>{% endblock %}"
)
_template = None


@login_not_required
@require_GET
def b0(request):
    return HttpResponse("ok", content_type="text/plain")


@login_required(login_url="portal:login")
@require_GET
def b1(request):
    # The partner check of portal.access.partner_required (nothing imports portal).
    if not is_partner_user(request.user) or not hasattr(request.user, "partner_agent"):
        raise PermissionDenied
    global _template
    if _template is None:
        _template = engines["django"].from_string(EMPTY_PORTAL_PAGE)
    return HttpResponse(_template.render({}, request))


b1.login_url = "portal:login"

urlpatterns = [
    path("bench/b0/", b0, name="bench_b0"),
    path("portal/bench/b1/", b1, name="bench_b1"),
]
