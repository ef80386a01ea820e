"""Agency pages of the Assignment Manager: the routing rules (list, form, activate,
reorder, dry run), routing the unassigned queue, and "Route Automatically" on a case.

Every view needs agency staff with `cases.route_case` (Agency Managers); anybody else gets
403 before anything else is looked at. State-changing views are POST-only and redirect.
"""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_POST

from accounts.people import display_name
from accounts.roles import agency_required

from . import routing, selectors
from .languages import language_name
from .models import AssignmentRule, RoutingDecision
from .routing import selectors as routing_selectors
from .routing import services as routing_services
from .routing.forms import AssignmentRuleForm

Outcome = RoutingDecision.Outcome


def routing_required(view):
    """Agency staff who may route cases (`cases.route_case`); 403 for everybody else."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.has_perm(routing_services.ROUTE_PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return agency_required(wrapper)


def _rule_or_404(pk) -> AssignmentRule:
    return get_object_or_404(AssignmentRule, pk=pk)


def _case_team_url(case_pk: int) -> str:
    try:
        return reverse("cases:detail", args=[case_pk, "team"])
    except NoReverseMatch:
        return reverse("cases:routing")


def _report(request, decision: RoutingDecision) -> None:
    """One message saying what a routing run did."""
    if decision.outcome == Outcome.ASSIGNED:
        agent = decision.winner
        name = display_name(agent.user)
        messages.success(
            request,
            f"Case {decision.case.number} routed to {name} ({agent.organization.name}) by "
            f"rule “{decision.rule_name}”. {decision.explanation}.",
        )
    else:
        messages.warning(
            request,
            f"Case {decision.case.number} was not assigned: {decision.explanation}",
        )


@routing_required
def rule_list(request):
    rules = list(routing_selectors.routing_rules())
    for rule in rules:
        rule.language_label = language_name(rule.language)
    context = {
        "rules": rules,
        "unassigned_count": routing_selectors.unassigned_cases().count(),
        "decisions": list(routing_selectors.recent_decisions()),
    }
    return render(request, "cases/routing/rule_list.html", context)


@routing_required
def rule_new(request):
    form = AssignmentRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = routing_services.assignment_rule_create(
                actor=request.user, **form.service_kwargs()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Rule “{rule.name}” added at the end of the list.")
            return redirect("cases:routing")
    return render(request, "cases/routing/rule_form.html", {"form": form, "rule": None})


@routing_required
def rule_edit(request, pk):
    rule = _rule_or_404(pk)
    form = AssignmentRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            routing_services.assignment_rule_update(
                actor=request.user, rule=rule, **form.service_kwargs()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Rule “{form.cleaned_data['name']}” saved.")
            return redirect("cases:routing")
    return render(request, "cases/routing/rule_form.html", {"form": form, "rule": rule})


@routing_required
@require_POST
def rule_set_active(request, pk):
    rule = _rule_or_404(pk)
    active = request.POST.get("active") == "1"
    routing_services.assignment_rule_set_active(actor=request.user, rule=rule, active=active)
    messages.success(request, f"Rule “{rule.name}” {'activated' if active else 'deactivated'}.")
    return redirect("cases:routing")


@routing_required
@require_POST
def rule_move(request, pk):
    rule = _rule_or_404(pk)
    try:
        routing_services.assignment_rule_move(
            actor=request.user, rule=rule, direction=request.POST.get("direction", "")
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("cases:routing")


@routing_required
def rule_dry_run(request, pk):
    rule = _rule_or_404(pk)
    context = {"dry_run": routing.routing_dry_run(rule=rule), "rule": rule}
    return render(request, "cases/routing/dry_run.html", context)


@routing_required
@require_POST
def route_unassigned(request):
    counts = routing.cases_route_unassigned(actor=request.user)
    routed = counts.get(Outcome.ASSIGNED, 0)
    left = sum(counts.values()) - routed
    if not counts:
        messages.info(request, "There is no unassigned Third-Party case.")
    elif left:
        messages.warning(
            request,
            f"{routed} case{'s' if routed != 1 else ''} routed; {left} left unassigned "
            "(no matching rule or no eligible candidate; see the decisions below).",
        )
    else:
        messages.success(request, f"{routed} case{'s' if routed != 1 else ''} routed.")
    return redirect("cases:routing")


@routing_required
@require_POST
def case_route(request, pk):
    """The case page's Route Automatically button."""
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    try:
        decision = routing.case_route(actor=request.user, case=case)
    except routing.NotRoutable as exc:
        messages.warning(request, f"Case {case.number} was not routed: {exc}")
    else:
        _report(request, decision)
    return redirect(_case_team_url(case.pk))


urlpatterns = [
    path("routing/", rule_list, name="routing"),
    path("routing/new/", rule_new, name="routing_rule_new"),
    path("routing/route-unassigned/", route_unassigned, name="routing_route_unassigned"),
    path("routing/<int:pk>/edit/", rule_edit, name="routing_rule_edit"),
    path("routing/<int:pk>/active/", rule_set_active, name="routing_rule_active"),
    path("routing/<int:pk>/move/", rule_move, name="routing_rule_move"),
    path("routing/<int:pk>/dry-run/", rule_dry_run, name="routing_dry_run"),
    path("<int:pk>/route/", case_route, name="route"),
]
