from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_POST

from accounts import form_tokens
from accounts.forms import UswdsPasswordChangeForm
from cases import access, services
from cases import selectors as case_selectors
from cases.downloads import attachment_response
from cases.models import Case, CaseTeamMember, Referral
from cases.permissions import WORK_CASE
from cases.records import Tab
from casesite.forms import UswdsFormMixin

from . import selectors
from .access import partner_required
from .forms import (
    ActivityForm,
    AssignForm,
    AttachmentForm,
    CompleteForm,
    DeclineForm,
    FailForm,
    MyCasesFilterForm,
    NoteForm,
    ReassignForm,
    ServiceRequestStatusForm,
    WaitlistForm,
    agent_name,
)

PORTAL_LAYOUT = "portal/base.html"


@dataclass(frozen=True)
class PortalRecords:
    """How the portal shows one record kind (cases.records) and adds one."""

    template: str  # the tab's panel
    add_form: type | None  # None: partner agents add none of this kind


# One row per record kind. Service requests are opened by the agency; partners change only
# their status.
PORTAL_RECORDS = {
    "activities": PortalRecords("portal/includes/tab_activities.html", ActivityForm),
    "attachments": PortalRecords("portal/includes/tab_attachments.html", AttachmentForm),
    "servicerequests": PortalRecords("portal/includes/tab_servicerequests.html", None),
    "notes": PortalRecords("portal/includes/tab_notes.html", NoteForm),
}
State = Referral.State


class PortalLoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True


class PortalPasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    form_class = UswdsPasswordChangeForm
    success_url = reverse_lazy("portal:password_change_done")
    extra_context = {"layout": PORTAL_LAYOUT}


class PortalPasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"
    extra_context = {"layout": PORTAL_LAYOUT}


class UswdsPasswordResetForm(UswdsFormMixin, PasswordResetForm):
    pass


class UswdsSetPasswordForm(UswdsFormMixin, SetPasswordForm):
    pass


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/password_reset_form.html"
    email_template_name = "portal/email/password_reset.txt"
    subject_template_name = "portal/email/password_reset_subject.txt"
    form_class = UswdsPasswordResetForm
    success_url = reverse_lazy("portal:password_reset_done")


class PortalPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_message.html"
    extra_context = {
        "heading": "Check your email",
        "message": "If an account uses that address, we sent it a link to choose a new password.",
    }


class PortalPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/password_reset_confirm.html"
    form_class = UswdsSetPasswordForm
    success_url = reverse_lazy("portal:password_reset_complete")


class PortalPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/password_reset_message.html"
    extra_context = {
        "heading": "Password changed",
        "message": "Your new password is set. You can sign in now.",
        "show_login": True,
    }


# My Cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A My Cases column header: its label, and how it sorts (None: it does not)."""

    label: str
    sort: str | None = None
    url: str = ""
    aria_sort: str = ""


MY_CASES_COLUMNS = (
    ("New", "new"),
    ("Case Number", "number"),
    ("Case Name", "name"),
    ("Program", "program"),
    ("Status", "status"),
    ("Referral state", "referral"),
    ("Assigned on", "assigned"),
)
AGENT_COLUMN = ("Agent", "agent")


def _query_string(params: QueryDict, **changes) -> str:
    query = params.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value:
            query[name] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _columns(params: QueryDict, *, sort: str, manager: bool) -> list[Column]:
    """Column headers with their sort links; a second click on a column reverses it."""
    columns = list(MY_CASES_COLUMNS)
    if manager:
        columns.insert(3, AGENT_COLUMN)
    current = sort or selectors.DEFAULT_SORT
    result = []
    for label, key in columns:
        if current.removeprefix("-") == key:
            descending = current.startswith("-")
            aria_sort = "descending" if descending else "ascending"
            next_sort = key if descending else f"-{key}"
        else:
            aria_sort, next_sort = "", key
        url = _query_string(params, sort=next_sort, page=None)
        result.append(Column(label, key, url, aria_sort))
    return result


def _page_url(params: QueryDict, number: int) -> str:
    return _query_string(params, page=str(number) if number > 1 else None)


def _pages(params: QueryDict, listing: selectors.MyCasesPage) -> list[dict]:
    """Items of the usa-pagination: page links and ellipses."""
    if listing.paginator.num_pages <= 1:
        return []
    items = []
    for number in listing.paginator.get_elided_page_range(
        listing.number, on_each_side=1, on_ends=1
    ):
        if number == listing.paginator.ELLIPSIS:
            items.append({"ellipsis": True})
        else:
            url = _page_url(params, number)
            items.append({"number": number, "url": url, "current": number == listing.number})
    return items


@partner_required
@require_GET
def my_cases(request):
    """My Cases. The unfiltered list polls itself: `v` is the page's version (its total and
    New count), and while it holds the answer is 204 from one small query. A filtered list
    is a search of the moment and does not poll: its version would cost every filtered page
    one more query."""
    agent = request.user.partner_agent
    version = request.GET.get("v", "")
    if request.htmx and version and selectors.my_cases_version(user=request.user) == version:
        return HttpResponse(status=204)
    form = MyCasesFilterForm(request.GET or None)
    filters = form.filters()
    listing = selectors.my_cases_page(user=request.user, filters=filters)
    form.set_program_choices(listing.program_choices)
    params = request.GET.copy()
    params.pop("v", None)
    number, last = listing.number, listing.paginator.num_pages
    context = {
        "form": form,
        "filters": filters,
        "listing": listing,
        "is_manager": agent.is_manager,
        "columns": _columns(params, sort=filters.sort, manager=agent.is_manager),
        "pages": _pages(params, listing),
        "previous_url": _page_url(params, number - 1) if number > 1 else "",
        "next_url": _page_url(params, number + 1) if number < last else "",
        "portal_new_count": listing.new_count,
    }
    if not filters.narrowing:
        live = params.copy()
        live["v"] = f"{listing.total}-{listing.new_count}"
        context["live_url"] = reverse("portal:my_cases") + "?" + live.urlencode()
    return render(request, "portal/my_cases.html", context)


# The case page ------------------------------------------------------------------------------


def _details(case: Case) -> list[tuple[str, object]]:
    """The case details form: Case.PARTNER_FIELDS and nothing else, in their order."""
    rows = []
    for name in Case.PARTNER_FIELDS:
        field = Case._meta.get_field(name)
        if name == "language":
            value = case.language_display
        elif field.choices:
            value = getattr(case, f"get_{name}_display")()
        else:
            value = getattr(case, name)
        rows.append((capfirst(field.verbose_name), value))
    return rows


def _case_or_404(request, pk):
    """The case page's one lookup: the case (internal fields not loaded), the user's own
    membership and the navigation's New count, in one query; 404 if not the user's."""
    return case_selectors.partner_case_or_404(
        user=request.user,
        pk=pk,
        with_membership=True,
        portal_new_count=selectors.new_case_count(user=request.user),
        organization_works=case_selectors.organization_works_case(user=request.user),
    )


def _wants_panel(request) -> bool:
    """An htmx request swaps the tabs in place; anything else gets the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _tabs(request, case, checker, active=None) -> list[dict]:
    return [
        {
            "slug": tab.slug,
            "label": tab.label,
            "url": reverse("portal:case_tab", args=[case.pk, tab.slug]),
            "active": active is not None and tab.slug == active.slug,
        }
        for tab in case_selectors.visible_tabs(user=request.user, case=case, checker=checker)
    ]


def _panel(request, case, tab, *, can_work, add_form=None, status_form=None) -> dict:
    """The open tab: its shared records (one query) and, for an agent who may work the
    case, the form to add one, or the status forms of the service requests."""
    records = list(case_selectors.records_for_partner(user=request.user, case=case, kind=tab.slug))
    panel = {
        "active_tab": tab,
        "records": records,
        "panel_template": PORTAL_RECORDS[tab.slug].template,
        # A page that carries substance-use records carries the Part 2 notice.
        "redisclosure_notice": (
            access.REDISCLOSURE_NOTICE if any(r.substance_use for r in records) else ""
        ),
    }
    if not can_work:
        return panel
    form_class = PORTAL_RECORDS[tab.slug].add_form
    if form_class is not None:
        panel["add_form"] = add_form or form_class(auto_id=f"id_{tab.slug}_%s")
        panel["add_url"] = reverse("portal:record_add", args=[case.pk, tab.slug])
    if tab.slug == "servicerequests":
        bound_pk = status_form.record_pk if status_form is not None else None
        for record in records:
            record.status_form = (
                status_form
                if record.pk == bound_pk
                else ServiceRequestStatusForm(
                    initial={"status": record.status}, auto_id=f"id_sr{record.pk}_%s"
                )
            )
            record.status_url = reverse("portal:service_request_status", args=[case.pk, record.pk])
    return panel


def _reassignments(request, case, bound_form=None) -> dict:
    """A partner manager's view of who holds the case in the organization, with a
    Reassign form for each open assignment (one query)."""
    agents = list(selectors.organization_agents(agent=request.user.partner_agent, case=case))
    assignments = []
    for holder in (agent for agent in agents if agent.member_id):
        form = None
        if holder.member_state in Referral.OPEN_STATES:
            if bound_form is not None and bound_form.member_pk == holder.member_id:
                form = bound_form
            else:
                form = ReassignForm(
                    initial={"member": holder.member_id},
                    members=CaseTeamMember.objects.none(),
                    agents=[a for a in agents if a.user_id != holder.user_id],
                    auto_id=f"id_reassign{holder.member_id}_%s",
                )
        assignments.append(
            {
                "name": agent_name(holder.user),
                "state": State(holder.member_state).label,
                "form": form,
            }
        )
    return {"assignments": assignments}


def _render_case(
    request,
    case,
    checker,
    *,
    tab=None,
    notice="",
    add_form=None,
    status_form=None,
    decline_form=None,
    reassign_form=None,
    action_form=None,
    status=200,
):
    """The case page, or only its tabs for an htmx request. Records can be added only while
    the user's own referral is accepted or in progress (a partner manager not on the team:
    the services decide)."""
    may_work = can_work = checker.has_perm(WORK_CASE, case)
    if can_work and case.membership is not None:
        referral = case.membership.referral
        can_work = case.status == Case.Status.THIRD_PARTY and referral.is_working
    elif can_work:
        # A partner manager off the team: only while one of the organization's referrals
        # of the case is being worked (an intake referral is assigned first).
        can_work = case.organization_works
    context = {
        "case": case,
        "tabs": _tabs(request, case, checker, active=tab),
        "first_tab_url": "",
        "notice": notice,
        "can_work": can_work,
    }
    if tab is not None:
        context.update(
            _panel(
                request, case, tab, can_work=can_work, add_form=add_form, status_form=status_form
            )
        )
    elif context["tabs"]:
        context["first_tab_url"] = context["tabs"][0]["url"]
    if _wants_panel(request):
        response = render(request, "portal/includes/case_tabs.html", context, status=status)
    else:
        membership = case.membership
        referral = membership.referral if membership is not None else None
        context.update(
            {
                "details": _details(case),
                "membership": membership,
                "referral": referral,
                "can_answer": may_work and referral is not None and referral.state == State.PENDING,
                "decline_form": decline_form or DeclineForm(),
                "actions": _referral_actions(case, referral, may_work, bound=action_form),
                "now": timezone.now(),
                "portal_new_count": case.portal_new_count,
            }
        )
        if request.user.partner_agent.is_manager:
            context.update(_reassignments(request, case, bound_form=reassign_form))
        response = render(request, "portal/case_detail.html", context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


@partner_required
@require_GET
def case_detail(request, pk):
    """Opening a case: clears this agent's New asterisk and records the view."""
    case, checker = _case_or_404(request, pk)
    membership = case.membership
    is_new = membership is not None and membership.seen_at is None
    services.case_mark_seen(user=request.user, case=case, clear_new=is_new)
    if is_new:
        membership.seen_at = timezone.now()
        case.portal_new_count -= 1  # the asterisk this request just cleared
    return _render_case(request, case, checker)


@partner_required
@require_GET
def case_tab(request, pk, tab):
    case, checker = _case_or_404(request, pk)
    tab = case_selectors.partner_tab_or_404(user=request.user, case=case, tab=tab, checker=checker)
    # What the tab showed goes into the accounting of disclosures; the New asterisk is
    # cleared by the case page only.
    services.case_mark_seen(user=request.user, case=case, clear_new=False, tab=tab.slug)
    return _render_case(request, case, checker, tab=tab)


def _require_work(case, checker) -> None:
    """Seeing the case is not enough to write to it: that needs `work_case` (403)."""
    if not checker.has_perm(WORK_CASE, case):
        raise PermissionDenied


def _not_working(case) -> str:
    """Why the user's own referral of the case takes no work now ("" if it does). A
    partner manager who is not on the team is answered by the services."""
    if case.status != Case.Status.THIRD_PARTY:
        return f"This case is {case.get_status_display()}: it takes no more work."
    membership = case.membership
    if membership is None or membership.referral.is_working:
        return ""
    if membership.referral.state == State.PENDING:
        return "Your referral is pending: accept it before you record work."
    return f"Your referral is {membership.referral.get_state_display()}: it takes no more work."


@partner_required
@require_POST
def record_add(request, pk, tab):
    """Add an activity, note or attachment; the service shares it with the agency."""
    case, checker = _case_or_404(request, pk)
    tab = case_selectors.partner_tab_or_404(user=request.user, case=case, tab=tab, checker=checker)
    form_class = PORTAL_RECORDS[tab.slug].add_form
    if form_class is None:
        raise Http404  # service requests are opened by the agency, not in the portal
    _require_work(case, checker)
    if reason := _not_working(case):
        return _conflict(request, case, services.ConflictError(reason), refused_work=True)
    form = form_class(request.POST, request.FILES, auto_id=f"id_{tab.slug}_%s")
    if form.is_valid():
        # A form submitted twice (double click, reload) adds its record once.
        duplicate = form_tokens.claim(request) is not None
        try:
            saved = duplicate or form.save(actor=request.user, case=case) is not None
        except ValidationError as exc:
            error = services.ConflictError(" ".join(exc.messages))
            return _conflict(request, case, error, refused_work=True)
        if saved:
            label = form.record_label
            notice = (
                f"This {label.lower()} was already saved: it was added once."
                if duplicate
                else f"{label} added. The agency sees it now."
            )
            if _wants_panel(request):
                return _render_case(request, case, checker, tab=tab, notice=notice)
            messages.success(request, notice)
            return redirect("portal:case_tab", pk=case.pk, tab=tab.slug)
    return _render_case(
        request,
        case,
        checker,
        tab=tab,
        add_form=form,
        status=200 if _wants_panel(request) else 400,
    )


@partner_required
@require_POST
def service_request_status(request, pk, record_pk):
    """Update a shared service request's status."""
    case, checker = _case_or_404(request, pk)
    tab = case_selectors.partner_tab_or_404(
        user=request.user, case=case, tab=Tab.SERVICEREQUESTS, checker=checker
    )
    record = case_selectors.partner_record_or_404(
        user=request.user, case=case, kind=tab.slug, pk=record_pk
    )
    _require_work(case, checker)
    if reason := _not_working(case):
        return _conflict(request, case, services.ConflictError(reason), refused_work=True)
    form = ServiceRequestStatusForm(request.POST, auto_id=f"id_sr{record.pk}_%s")
    if form.is_valid():
        try:
            form.save(actor=request.user, record=record)
        except ValidationError as exc:
            error = services.ConflictError(" ".join(exc.messages))
            return _conflict(request, case, error, refused_work=True)
        notice = f"{record.number} is now {record.get_status_display()}."
        if _wants_panel(request):
            return _render_case(request, case, checker, tab=tab, notice=notice)
        messages.success(request, notice)
        return redirect("portal:case_tab", pk=case.pk, tab=tab.slug)
    form.record_pk = record.pk
    return _render_case(
        request,
        case,
        checker,
        tab=tab,
        status_form=form,
        status=200 if _wants_panel(request) else 400,
    )


@partner_required
@require_GET
def attachment_download(request, pk, attachment_pk):
    """A shared attachment of a case the user sees, in the Attachments tab granted to them:
    anything else is 404, an old link after removal from the team included."""
    case, checker = case_selectors.partner_case_or_404(user=request.user, pk=pk)
    case_selectors.partner_tab_or_404(
        user=request.user, case=case, tab=Tab.ATTACHMENTS, checker=checker
    )
    attachment = case_selectors.partner_record_or_404(
        user=request.user, case=case, kind=Tab.ATTACHMENTS, pk=attachment_pk
    )
    if attachment.substance_use and request.GET.get("notice") != "read":
        # A file cannot carry the Part 2 notice itself: the partner reads it first.
        context = {
            "case": case,
            "attachment": attachment,
            "notice": access.REDISCLOSURE_NOTICE,
            "download_url": request.path + "?notice=read",
            "portal_new_count": selectors.new_memberships(user=request.user).count(),
        }
        return render(request, "portal/redisclosure.html", context)
    return attachment_response(actor=request.user, attachment=attachment)


# Referral answers and reassignment -------------------------------------------------------

# What each portal action of a referral needs: its form (None: a button) and its service,
# in the order the page offers them (the first is the primary button).
REFERRAL_ACTIONS = {
    "start": (None, services.referral_start),
    "waitlist": (WaitlistForm, services.referral_waitlist),
    "resume": (None, services.referral_resume),
    "complete": (CompleteForm, services.referral_complete),
    "fail": (FailForm, services.referral_fail),
}


def _referral_actions(case, referral, may_work, *, bound=None) -> list[dict]:
    """The actions the referral's state allows now, each with its label (declared on the
    transition), its form and its URL; Accept and Decline have their own block."""
    if referral is None or not may_work or case.status != Case.Status.THIRD_PARTY:
        return []
    actions = []
    available = {t.name: t for t in referral.get_available_state_transitions()}
    for name in REFERRAL_ACTIONS:
        transition = available.get(name)
        if transition is None:
            continue
        form_class, _ = REFERRAL_ACTIONS[transition.name]
        form = None
        if form_class is not None:
            form = (
                bound
                if isinstance(bound, form_class)
                else form_class(auto_id=f"id_{transition.name}_%s")
            )
        item = {
            "name": transition.name,
            "label": transition.custom["label"],
            "form": form,
            "url": reverse("portal:referral_action", args=[case.pk, transition.name]),
        }
        if transition.name == "complete":
            item["attempts"] = list(services.contact_attempts(referral=referral))
            item["attempts_required"] = Referral.CONTACT_ATTEMPTS_REQUIRED
        actions.append(item)
    return actions


def _own_membership(case, checker) -> CaseTeamMember:
    """Only the agent the case is assigned to answers the referral. A partner manager who
    sees the case without being on its team may not (403)."""
    if case.membership is None:
        raise PermissionDenied
    _require_work(case, checker)
    return case.membership


def _conflict(request, case, error: services.ConflictError, *, refused_work: bool = False):
    """Somebody answered first, or the referral's state forbids the work: say so plainly,
    with 409."""
    context = {
        "case": case,
        "message": str(error),
        "refused_work": refused_work,
        "portal_new_count": case.portal_new_count,
    }
    return render(request, "portal/conflict.html", context, status=409)


@partner_required
@require_POST
def referral_accept(request, pk):
    case, checker = _case_or_404(request, pk)
    member = _own_membership(case, checker)
    try:
        referral = services.referral_accept(actor=request.user, referral=member.referral)
    except services.ConflictError as exc:
        return _conflict(request, case, exc)
    messages.success(request, referral.confirmation("accept"))
    return redirect("portal:case", pk=case.pk)


@partner_required
@require_POST
def referral_action(request, pk, action):
    """Start, waitlist, resume, complete or "could not help": the action's form, then the
    service, which checks the state (409 when it forbids the action) and the permission."""
    if action not in REFERRAL_ACTIONS:
        raise Http404
    case, checker = _case_or_404(request, pk)
    member = _own_membership(case, checker)
    form_class, service = REFERRAL_ACTIONS[action]
    form = form_class(request.POST, auto_id=f"id_{action}_%s") if form_class else None
    if form is None or form.is_valid():
        fields = dict(form.cleaned_data) if form is not None else {}
        if action == "waitlist":
            fields = {
                "review_at": form.review_at(),
                "position": fields["position"],
                "note": fields["note"],
            }
        try:
            referral = service(actor=request.user, referral=member.referral, **fields)
        except services.ConflictError as exc:
            return _conflict(request, case, exc)
        except ValidationError as exc:
            if form is None:
                error = services.ConflictError(" ".join(exc.messages))
                return _conflict(request, case, error, refused_work=True)
            form.add_error(None, exc)
        else:
            notice = referral.confirmation(action)
            messages.success(request, notice)
            return redirect("portal:case", pk=case.pk)
    return _render_case(request, case, checker, action_form=form, status=400)


@partner_required
@require_POST
def referral_decline(request, pk):
    case, checker = _case_or_404(request, pk)
    member = _own_membership(case, checker)
    form = DeclineForm(request.POST)
    if form.is_valid():
        try:
            referral = services.referral_decline(
                actor=request.user,
                referral=member.referral,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except services.ConflictError as exc:
            return _conflict(request, case, exc)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, referral.confirmation("decline"))
            return redirect("portal:my_cases")
    return _render_case(request, case, checker, decline_form=form, status=400)


@partner_required
@require_POST
def referral_reassign(request, pk):
    """A partner manager moves an assignment of the organization to another of its agents."""
    case, checker = _case_or_404(request, pk)
    agent = request.user.partner_agent
    if not agent.is_manager:
        raise PermissionDenied
    form = ReassignForm(
        request.POST,
        members=selectors.organization_memberships(agent=agent, case=case),
        agents=list(selectors.organization_agents(agent=agent, case=case)),
    )
    if not form.is_valid() and "member" in form.errors:
        raise Http404  # not an assignment of the organization on this case
    if form.is_valid():
        to_user = form.cleaned_data["to_user"]
        try:
            services.referral_reassign(
                actor=request.user, referral=form.cleaned_data["member"].referral, to_user=to_user
            )
        except services.ConflictError as exc:
            return _conflict(request, case, exc)
        except ValidationError as exc:
            form.add_error("to_user", exc)
        else:
            messages.success(request, f"{case.number} is now assigned to {agent_name(to_user)}.")
            return redirect("portal:case", pk=case.pk)
    form.member_pk = form.cleaned_data["member"].pk
    return _render_case(request, case, checker, reassign_form=form, status=400)


# Intake queue (partner managers) ----------------------------------------------------------


def _manager_or_404(request):
    """The intake queue exists for partner managers only; for anyone else it is not there."""
    agent = request.user.partner_agent
    if not agent.is_manager:
        raise Http404
    return agent


@partner_required
@require_GET
def intake(request):
    """Referrals made to the organization, waiting for a partner manager to assign them to
    one of the organization's agents, due first."""
    return _render_intake(request, _manager_or_404(request))


def _render_intake(request, agent, *, bound_form=None, bound_pk=None, status=200):
    agents = list(selectors.organization_assignable_agents(agent=agent))
    rows = []
    for referral in selectors.intake_queue(agent=agent)[:200]:
        form = bound_form if referral.pk == bound_pk else None
        rows.append(
            {
                "referral": referral,
                "form": form or AssignForm(agents=agents, auto_id=f"id_assign{referral.pk}_%s"),
                "url": reverse("portal:intake_assign", args=[referral.pk]),
            }
        )
    context = {
        "rows": rows,
        "has_agents": bool(agents),
        "portal_new_count": selectors.new_memberships(user=request.user).count(),
    }
    return render(request, "portal/intake.html", context, status=status)


@partner_required
@require_POST
def intake_assign(request, referral_pk):
    agent = _manager_or_404(request)
    referral = selectors.intake_referral_or_404(agent=agent, pk=referral_pk)
    agents = list(selectors.organization_assignable_agents(agent=agent))
    form = AssignForm(request.POST, agents=agents, auto_id=f"id_assign{referral.pk}_%s")
    if form.is_valid():
        to_user = form.cleaned_data["to_user"]
        try:
            services.referral_assign(actor=request.user, referral=referral, to_user=to_user)
        except services.ConflictError as exc:
            referral.case.portal_new_count = selectors.new_memberships(user=request.user).count()
            return _conflict(request, referral.case, exc)
        except ValidationError as exc:
            form.add_error("to_user", exc)
        else:
            messages.success(
                request,
                f"{referral.case.number} is assigned to {agent_name(to_user)}, who has been "
                "told by email. It is due at the same time.",
            )
            return redirect("portal:intake")
    return _render_intake(request, agent, bound_form=form, bound_pk=referral.pk, status=400)
