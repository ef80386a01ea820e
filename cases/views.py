"""Agency workspace: the Cases List, New Case and Edit, the case page with its view tabs
and live oversight, and the Referrals board.

Thin views: look the case up through the agency selector (not yours is 404), call one
service, render. State-changing views are POST-only; after a change they redirect, or,
when htmx asked for the tab panel, render the panel again. The workflow permissions
(approve, deny, refer, recall) are checked by the service on every request.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_POST

from accounts import form_tokens
from accounts.people import display_name
from accounts.roles import agency_required

from . import selectors, services
from .downloads import attachment_response
from .forms import (
    CaseFilterForm,
    CaseForm,
    ConsentForm,
    ConsentRevokeForm,
    EmergencyAccessForm,
    NewCaseForm,
    PartnerAddForm,
    ServiceRequestStatusForm,
    TeamAddForm,
    basis_label,
    consent_tab_url,
    person_label,
)
from .models import (
    CASE_TRANSITIONS,
    Case,
    CaseEvent,
    CaseTeamMember,
    Consent,
    Referral,
    ServiceRequest,
    consent_data_choices,
)
from .records import KINDS, RECORD_KINDS
from .routing import latest_routing_decision

PER_PAGE = 25
HISTORY_PER_PAGE = 50
LIVE_MAX_EVENTS = 50
STALE_AFTER_DAYS = 2


@dataclass(frozen=True)
class AgencyTab:
    """A view tab of the agency's case page: its own URL, loaded into the panel by htmx,
    shown to agency staff with `permission` (every agency user when empty)."""

    slug: str
    label: str

    template: str
    permission: str = ""


TABS = (
    AgencyTab("details", "Details", "cases/includes/tab_details.html"),
    AgencyTab("partners", "Partners", "cases/includes/tab_partners.html"),
    AgencyTab("team", "Case Team", "cases/includes/tab_team.html"),
    AgencyTab("consent", "Consent", "cases/includes/tab_consent.html", "cases.view_consent"),
    # One tab per record kind (cases.records), all on the same panel.
    *(AgencyTab(kind.slug, kind.label, "cases/includes/tab_records.html") for kind in RECORD_KINDS),
    AgencyTab("history", "History", "cases/includes/tab_history.html"),
)
TABS_BY_SLUG = {tab.slug: tab for tab in TABS}

Verb = CaseEvent.Verb
# Events that change a referral's state: the header's Referral fact and the Case Team.
REFERRAL_VERBS = {
    Verb.TEAM_ADDED,
    Verb.TEAM_REMOVED,
    Verb.ACCEPTED,
    Verb.DECLINED,
    Verb.EXPIRED,
    Verb.STARTED,
    Verb.WAITLISTED,
    Verb.RESUMED,
    Verb.COMPLETED,
    Verb.COULD_NOT_HELP,
    Verb.WITHDRAWN,
    Verb.REFERRED,
    Verb.REASSIGNED,
    Verb.ESCALATED,
    Verb.ACCESS_ENDED,
}
# What a new event may change on an open case page (live oversight refreshes only that).
HEADER_VERBS = {
    Verb.TRANSITION,
    Verb.PARTNER_ADDED,
    Verb.PARTNER_PRIMARY,
    Verb.PARTNER_REMOVED,
    Verb.EMERGENCY_ACCESS,  # the header's banner
    *REFERRAL_VERBS,
}
TEAM_VERBS = {
    Verb.TRANSITION,
    *REFERRAL_VERBS,
    Verb.ROUTED,
    Verb.VIEWED,
}
PARTNER_VERBS = {Verb.PARTNER_ADDED, Verb.PARTNER_PRIMARY, Verb.PARTNER_REMOVED, Verb.TEAM_ADDED}


# Helpers -------------------------------------------------------------------------------------


def _require(user, permission: str) -> None:
    """403 for agency staff who see the case but lack the model permission."""
    if not user.has_perm(permission):
        raise PermissionDenied


def _is_partial(request) -> bool:
    """htmx asked for a fragment (a tab panel, the list results), not a whole page."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def _vary(response):
    # The same URL answers with a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _paginate(items, *, number, per_page: int, url: str, params=None):
    """A page of `items` and the links of a USWDS pagination bar (first, last, the current
    page and its neighbours, gaps between), keeping the other query parameters."""
    page = Paginator(items, per_page).get_page(number)
    params = {k: v for k, v in (params or {}).items() if k != "page" and v not in ("", None)}

    def link(n: int) -> str:
        return f"{url}?{urlencode({**params, 'page': n})}"

    total = page.paginator.num_pages
    numbers = sorted(
        {1, total, *range(page.number - 1, page.number + 2)} & set(range(1, total + 1))
    )
    items, previous = [], 0
    for n in numbers:
        if n - previous > 1:
            items.append({"gap": True})
        items.append({"number": n, "url": link(n), "current": n == page.number})
        previous = n
    bar = {
        "show": total > 1,
        "items": items,
        "previous": link(page.number - 1) if page.has_previous() else None,
        "next": link(page.number + 1) if page.has_next() else None,
    }
    return page, bar


def _tab_or_404(slug: str) -> AgencyTab:
    try:
        return TABS_BY_SLUG[slug]
    except KeyError:
        raise Http404 from None


def _visible_tabs(user) -> list[AgencyTab]:
    return [tab for tab in TABS if not tab.permission or user.has_perm(tab.permission)]


def _tab_url(case: Case, slug: str) -> str:
    if slug == "details":
        return reverse("cases:detail", args=[case.pk])
    return reverse("cases:detail", args=[case.pk, slug])


def _name(user) -> str:
    if user is None:
        return "Caseworks"
    return display_name(user)


# Event sentences (History tab and live feed) -------------------------------------------------

_STATUS_LABELS = dict(Case.Status.choices)


def _when(stamp) -> str:
    """An ISO time kept in an event's data, as the History tab writes times."""
    try:
        moment = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return ""
    return f"{timezone.localtime(moment):%b %-d, %Y %-I:%M %p}"


def _field_label(name: str) -> str:
    try:
        return capfirst(Case._meta.get_field(name).verbose_name)
    except Exception:
        return name


def describe_event(event: CaseEvent) -> str:
    """What happened, as a sentence staff can read, from the event's verb and data."""
    data = event.data or {}
    verb = event.verb
    if verb == Verb.CREATED:
        return f"Created the case {data.get('number', '')}".strip()
    if verb == Verb.UPDATED:
        fields = ", ".join(_field_label(name) for name in data.get("fields", []))
        return f"Edited the case: {fields}" if fields else "Edited the case"
    if verb == Verb.TRANSITION:
        declared = CASE_TRANSITIONS.get(data.get("transition"), {})
        label = data.get("label") or declared.get("label", "")
        source, target = data.get("source"), data.get("target")
        if source and target:
            before, after = _STATUS_LABELS.get(source, source), _STATUS_LABELS.get(target, target)
            return f"{label} ({before} → {after})"
        return label or event.get_verb_display()
    if verb == Verb.PARTNER_ADDED:
        primary = " as Primary" if data.get("primary") else ""
        return f"Associated partner {data.get('partner', '')}{primary}"
    if verb == Verb.PARTNER_PRIMARY:
        return f"Made {data.get('partner', 'a partner')} Primary"
    if verb == Verb.PARTNER_REMOVED:
        promoted = f"; {data['promoted']} is now Primary" if data.get("promoted") else ""
        return f"Removed partner {data.get('partner', '')}{promoted}"
    if verb == Verb.TEAM_ADDED:
        who = data.get("agent") or data.get("user", "")
        organization = f" ({data['organization']})" if data.get("organization") else ""
        how = " by reassignment" if data.get("reassigned") else ""
        return f"Added {who}{organization} to the Case Team{how}"
    if verb == Verb.TEAM_REMOVED:
        return f"Removed {data.get('user', '')} from the Case Team"
    if verb == Verb.DECLINED:
        note = f" ({data['note']})" if data.get("note") else ""
        return f"Declined the referral: {data.get('reason', '')}{note}"
    if verb == Verb.EXPIRED:
        return f"The referral to {data.get('agent', 'the partner agent')} expired"
    if verb == Verb.REASSIGNED:
        return f"Reassigned the referral from {data.get('from_agent')} to {data.get('to_agent')}"
    if verb in (Verb.RECORD_ADDED, Verb.RECORD_UPDATED):
        label = data.get("label", "record")
        title = f": {data['title']}" if data.get("title") else ""
        if verb == Verb.RECORD_ADDED:
            article = "an" if label[:1] in "AEIOU" else "a"
            shared = (
                " (shared with partners)" if data.get("shared") and not event.by_partner else ""
            )
            return f"Added {article} {label}{title}{shared}"
        fields = ", ".join(data.get("fields", []))
        return f"Updated the {label}{title}" + (f" ({fields.replace('_', ' ')})" if fields else "")
    if verb == Verb.DOWNLOADED:
        return f"Downloaded {data.get('title', 'an attachment')}"
    if verb == Verb.CONSENT_RECORDED:
        labels = dict(consent_data_choices())
        covers = ", ".join(labels.get(item, item) for item in data.get("data", []))
        return (
            f"Recorded the client's consent for {data.get('recipient', '')} ({covers}), "
            f"{data.get('starts_on', '')} to {data.get('ends_on', '')}"
        )
    if verb == Verb.CONSENT_REVOKED:
        return f"Revoked the consent for {data.get('recipient', '')}: {data.get('reason', '')}"
    if verb == Verb.EMERGENCY_ACCESS:
        until = _when(data.get("expires_at"))
        return (
            f"Granted {data.get('organization', 'a partner')} emergency access"
            f"{f' until {until}' if until else ''}: {data.get('reason', '')}"
        )
    if verb == Verb.ACCESS_ENDED:
        organization = f" ({data['organization']})" if data.get("organization") else ""
        why = f": {data['why']}" if data.get("why") else ""
        return f"{data.get('agent', 'A partner agent')}'s access{organization} ended{why}"
    extra = data.get("agent") or data.get("organization")
    return f"{event.get_verb_display()}: {extra}" if extra else event.get_verb_display()


def _described(events) -> list[dict]:
    return [
        {"event": event, "who": _name(event.actor), "what": describe_event(event)}
        for event in events
    ]


# Cases List ----------------------------------------------------------------------------------

LIST_COLUMNS = (
    ("number", "Case Number"),
    ("name", "Case Name"),
    (None, "Applicant"),
    ("program", "Program"),
    ("status", "Status"),
    (None, "Primary partner"),
    ("owner", "Owner"),
    ("updated", "Updated"),
)


def _columns(params, sort: str) -> list[dict]:
    url = reverse("cases:list")
    columns = []
    for key, label in LIST_COLUMNS:
        column = {"label": label, "key": key}
        if key:
            descending = sort == f"-{key}"
            current = sort.lstrip("-") == key
            next_sort = key if (current and descending) else f"-{key}" if current else key
            query = {k: v for k, v in params.items() if k not in ("page", "sort") and v}
            column["url"] = f"{url}?{urlencode({**query, 'sort': next_sort})}"
            if current:
                column["aria_sort"] = "descending" if descending else "ascending"
        columns.append(column)
    return columns


@agency_required
def case_list(request):
    form = CaseFilterForm(request.GET)
    filters = form.filters()
    sort = request.GET.get("sort") or "-updated"
    if sort.lstrip("-") not in selectors.AGENCY_SORTS:
        sort = "-updated"
    rows = selectors.agency_case_rows(user=request.user, sort=sort, **filters)
    params = request.GET.dict()
    page, pagination = _paginate(
        rows,
        number=request.GET.get("page"),
        per_page=PER_PAGE,
        url=reverse("cases:list"),
        params=params,
    )
    context = {
        "form": form,
        "page": page,
        "pagination": pagination,
        "columns": _columns(params, sort),
        "filtered": any(filters.values()),
    }
    # The filter form asks for the results only (the search box keeps its focus); sorting
    # and paging links ask for the whole page, so the form shows the same state.
    results_only = _is_partial(request) and request.htmx.target == "case-results"
    template = "cases/includes/case_results.html" if results_only else "cases/case_list.html"
    return _vary(render(request, template, context))


# New Case and Edit ---------------------------------------------------------------------------


@agency_required
def case_new(request):
    _require(request.user, "cases.add_case")
    data = request.POST if request.method == "POST" else None
    form = NewCaseForm(data, initial={"owner": request.user.pk, "language": "en"})
    if form.is_valid():
        submitted = form_tokens.claim(request)
        if submitted is not None:
            messages.info(request, "This form was already submitted: the case was opened once.")
            return redirect(submitted or reverse("cases:list"))
        case = services.case_create(
            actor=request.user, owner=form.cleaned_data["owner"], **form.case_fields()
        )
        url = reverse("cases:detail", args=[case.pk])
        form_tokens.settle(request, url)
        messages.success(request, f"Case {case.number} opened.")
        return redirect(url)
    return render(
        request, "cases/case_form.html", {"form": form, "case": None, "title": "New Case"}
    )


@agency_required
def case_edit(request, pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.change_case")
    initial = {name: getattr(case, name) for name in services.CASE_EDITABLE_FIELDS}
    data = request.POST if request.method == "POST" else None
    form = CaseForm(data, initial=initial)
    if form.is_valid():
        services.case_update(actor=request.user, case=case, **form.case_fields())
        messages.success(request, f"Case {case.number} saved.")
        return redirect("cases:detail", pk=case.pk)
    return render(
        request,
        "cases/case_form.html",
        {"form": form, "case": case, "title": f"Edit case {case.number}"},
    )


# Case page -----------------------------------------------------------------------------------


def _transitions(user, case: Case) -> list[dict]:
    return [
        {
            "name": name,
            "label": label,
            "url": reverse("cases:transition", args=[case.pk, name]),
            "confirm": CASE_TRANSITIONS[name]["confirm"].format(number=case.number),
            "style": CASE_TRANSITIONS[name].get("style", ""),
        }
        for name, label in services.available_transitions(user=user, case=case)
    ]


def _header_context(user, case: Case) -> dict:
    partners = list(selectors.case_partners(case=case))
    return {
        "transitions": _transitions(user, case),
        "primary_partner": next((link.partner for link in partners if link.is_primary), None),
        "partner_count": len(partners),
        "header_referral": selectors.case_current_referral(case=case),
        "emergency_banner": list(selectors.case_emergency_in_force(case=case)),
    }


def _team_summary(case: Case) -> list[CaseTeamMember]:
    """Who is on the case now, and partner agents who were (declined, expired ...)."""
    return [m for m in selectors.case_team(case=case) if m.is_active or m.is_partner]


def _records_context(request, case: Case, kind: str, *, page_number=None) -> dict:
    page, pagination = _paginate(
        selectors.case_records(case=case, kind=kind),
        number=page_number,
        per_page=PER_PAGE,
        url=_tab_url(case, kind),
    )
    declared = KINDS[kind]
    return {
        "kind": kind,
        "kind_label": declared.singular,
        "add_label": declared.add_label,
        "records_template": declared.template,
        "records": page,
        "pagination": pagination,
        "sr_statuses": ServiceRequest.Status.choices,
    }


def _tab_context(request, case: Case, tab: AgencyTab, bound) -> dict:
    if tab.slug == "partners":
        adding = bound is not None or "add" in request.GET
        return {
            "partners": list(selectors.case_partners(case=case)),
            "partner_form": bound or (PartnerAddForm(case=case) if adding else None),
        }
    if tab.slug == "team":
        form = bound or TeamAddForm(
            case=case,
            initial={"user": request.GET.get("user")},
            refresh_url=_tab_url(case, "team"),
            query=request.GET.get("person_q", ""),
        )
        return {
            "members": list(selectors.case_team(case=case)),
            "referrals": list(selectors.case_referrals(case=case)[:50]),
            "team_form": form,
            "routing_decision": latest_routing_decision(case=case),
        }
    if tab.slug in KINDS:
        context = _records_context(request, case, tab.slug, page_number=request.GET.get("page"))
        context["record_form"] = bound or KINDS[tab.slug].form_class()
        return context
    if tab.slug == "consent":
        return _consent_context(request, case, bound)
    if tab.slug == "history":
        page, pagination = _paginate(
            selectors.case_events(case=case),
            number=request.GET.get("page"),
            per_page=HISTORY_PER_PAGE,
            url=_tab_url(case, "history"),
        )
        return {"events": _described(page), "page": page, "pagination": pagination}
    return {}


def _render_case(request, case: Case, tab: AgencyTab, *, bound=None):
    """The case page, or only its tab panel when htmx asked for it. A tab the user may not
    open is 403: they see the case, not this view of it."""
    tabs = _visible_tabs(request.user)
    if tab not in tabs:
        raise PermissionDenied
    context = {
        "case": case,
        "tab": tab,
        "tabs": tabs,
        "tab_url": _tab_url(case, tab.slug),
        "live_tab": tab.slug if _int(request.GET.get("page"), 1) == 1 else "",
        "can_edit": request.user.has_perm("cases.change_case"),
        **_tab_context(request, case, tab, bound),
    }
    if _is_partial(request):
        return _vary(render(request, "cases/includes/case_tabs.html", {**context, "partial": True}))
    context.update(_header_context(request.user, case))
    context.update(
        {
            "team_summary": _team_summary(case),
            "feed": _described(selectors.partner_activity(case=case)),
            "cursor": selectors.case_last_event_id(user=request.user, pk=case.pk) or 0,
        }
    )
    return _vary(render(request, "cases/case_detail.html", context))


def _after_change(request, case: Case, slug: str):
    """After a change made from a tab: the fresh panel for htmx, else a redirect (PRG)."""
    if _is_partial(request):
        return _render_case(request, case, TABS_BY_SLUG[slug])
    return redirect(_tab_url(case, slug))


@agency_required
def case_detail(request, pk, tab="details"):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    return _render_case(request, case, _tab_or_404(tab))


@agency_required
@require_POST
def case_transition(request, pk, name):
    """Fire a status transition. Without its permission the service raises PermissionDenied
    (403); when the case is no longer in a state it starts from (someone else acted
    first), the user is sent back to the case with the reason."""
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    if name not in CASE_TRANSITIONS:
        raise Http404
    label = CASE_TRANSITIONS[name]["label"]
    try:
        case = services.case_transition(actor=request.user, case=case, name=name)
    except services.ConflictError as exc:
        messages.error(
            request,
            f"“{label}” was not done: {exc} Someone may have changed the case meanwhile; "
            "this page shows it as it is now.",
        )
    else:
        messages.success(request, CASE_TRANSITIONS[name]["done"].format(number=case.number))
    return redirect("cases:detail", pk=case.pk)


# Partners ------------------------------------------------------------------------------------


def _case_partner_or_404(case: Case, partner_pk):
    link = selectors.case_partners(case=case).filter(partner_id=partner_pk).first()
    if link is None:
        raise Http404
    return link


@agency_required
def partner_options(request, pk):
    """The options of the partner select that match what the user typed (htmx)."""
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    query = request.GET.get("q", "").strip()[:100]
    organizations = list(selectors.partner_choices(case=case, query=query)[:50])
    states = selectors.consent_states(case=case, organizations=organizations)
    options = [(o, basis_label(states[o.pk])) for o in organizations]
    return render(
        request, "cases/includes/partner_options.html", {"options": options, "query": query}
    )


@agency_required
@require_POST
def partner_add(request, pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.add_casepartner")
    form = PartnerAddForm(request.POST, case=case)
    if form.is_valid():
        partner = form.cleaned_data["partner"]
        try:
            link = services.partner_add(actor=request.user, case=case, partner=partner)
        except ValidationError as exc:
            form.add_error("partner", exc)
        else:
            primary = " as Primary" if link.is_primary else ""
            messages.success(request, f"{partner.name} associated with the case{primary}.")
            return _after_change(request, case, "partners")
    return _render_case(request, case, TABS_BY_SLUG["partners"], bound=form)


@agency_required
@require_POST
def partner_set_primary(request, pk, partner_pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.change_casepartner")
    link = _case_partner_or_404(case, partner_pk)
    services.partner_set_primary(actor=request.user, case=case, partner=link.partner)
    messages.success(request, f"{link.partner.name} is now the Primary partner.")
    return _after_change(request, case, "partners")


@agency_required
@require_POST
def partner_remove(request, pk, partner_pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.delete_casepartner")
    link = _case_partner_or_404(case, partner_pk)
    try:
        services.partner_remove(actor=request.user, case=case, partner=link.partner)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{link.partner.name} removed from the case.")
    return _after_change(request, case, "partners")


# Case Team -----------------------------------------------------------------------------------


def _with_consent_link(case: Case, error: ValidationError) -> ValidationError:
    """A "no consent" refusal says where to record one; any other error is left alone."""
    if getattr(error, "code", None) != "no_consent":
        return error
    return ValidationError(
        format_html(
            '{} <a class="usa-link" href="{}">Record a consent</a>',
            " ".join(error.messages),
            consent_tab_url(case),
        ),
        code="no_consent",
    )


@agency_required
@require_POST
def team_add(request, pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.add_caseteammember")
    form = TeamAddForm(request.POST, case=case, refresh_url=_tab_url(case, "team"))
    if form.is_valid():
        user = form.cleaned_data["user"]
        try:
            member = services.case_team_add(
                actor=request.user,
                case=case,
                user=user,
                tabs=form.cleaned_data["tabs"],
                response_hours=form.cleaned_data["response_hours"],
            )
        except ValidationError as exc:
            form.add_error(None, _with_consent_link(case, exc))
        else:
            if member.is_partner:
                due = timezone.localtime(member.referral.due_at)
                messages.success(
                    request,
                    f"{person_label(user)} added to the Case Team: the referral is pending, "
                    f"due {due:%b %-d, %Y %-I:%M %p}, and the case is in the agent's My Cases. "
                    "The agent has been told by email.",
                )
            else:
                messages.success(request, f"{person_label(user)} added to the Case Team.")
            return _after_change(request, case, "team")
    return _render_case(request, case, TABS_BY_SLUG["team"], bound=form)


@agency_required
@require_POST
def team_remove(request, pk, user_pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.delete_caseteammember")
    member = selectors.case_team(case=case).filter(user_id=user_pk, is_active=True).first()
    if member is None:
        raise Http404
    try:
        services.case_team_remove(actor=request.user, case=case, user=member.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        withdrawn = (
            "; the pending referral was withdrawn"
            if member.referral_state == Referral.State.PENDING
            else ""
        )
        messages.success(
            request, f"{person_label(member.user)} removed from the Case Team{withdrawn}."
        )
    return _after_change(request, case, "team")


# Consent and emergency access ----------------------------------------------------------------

# A consent in force this close to its end is flagged on the Consent tab.
EXPIRING_DAYS = 7
CONSENT_STATES = {
    # state: (tag label, tag modifier)
    "active": ("Active", "active"),
    "expiring": (f"Expires within {EXPIRING_DAYS} days", "expiring"),
    "expired": ("Expired", "expired"),
    "revoked": ("Revoked", "revoked"),
    "superseded": ("Superseded", "superseded"),
    "future": ("Not started", "future"),
}


def _consent_row(consent: Consent, *, today, labels: dict[str, str]) -> dict:
    """One consent as the Consent tab shows it: its state tag and what it covers."""
    state = consent.state_on(today)
    if state == "active" and (consent.ends_on - today).days < EXPIRING_DAYS:
        state = "expiring"
    label, modifier = CONSENT_STATES[state]
    return {
        "consent": consent,
        "state": state,
        "state_label": label,
        "state_class": modifier,
        "covers": [labels.get(item, item) for item in consent.data or []],
        "revocable": state in ("active", "expiring", "future"),
    }


def _consent_context(request, case: Case, bound) -> dict:
    user = request.user
    today = timezone.localdate()
    labels = dict(consent_data_choices())
    rows = [
        _consent_row(consent, today=today, labels=labels)
        for consent in selectors.case_consents(case=case)
    ]
    # What the tab opens with: the record form (?add=1), a revoke confirmation
    # (?revoke=<id>), or a form sent back with its errors.
    consent_form = bound if isinstance(bound, ConsentForm) else None
    if consent_form is None and "add" in request.GET and user.has_perm("cases.add_consent"):
        consent_form = ConsentForm(case=case)
    revoke_form = bound if isinstance(bound, ConsentRevokeForm) else None
    if revoke_form is None and user.has_perm("cases.change_consent"):
        wanted = _int(request.GET.get("revoke"))
        row = next((r for r in rows if r["consent"].pk == wanted and r["revocable"]), None)
        if row is not None:
            revoke_form = ConsentRevokeForm(consent=row["consent"])
    context = {
        "consents": rows,
        "consent_form": consent_form,
        "revoke_form": revoke_form,
        "can_record": user.has_perm("cases.add_consent"),
        "can_revoke": user.has_perm("cases.change_consent"),
        "emergency": None,
        "emergency_form": None,
    }
    if user.has_perm("cases.view_emergencyaccess"):
        now = timezone.now()
        context["emergency"] = [
            {"grant": grant, "active": grant.granted_at <= now < grant.expires_at}
            for grant in selectors.case_emergency_access(case=case)
        ]
    if user.has_perm("cases.add_emergencyaccess"):
        context["emergency_form"] = (
            bound if isinstance(bound, EmergencyAccessForm) else EmergencyAccessForm(case=case)
        )
    return context


def _consent_or_404(case: Case, consent_pk) -> Consent:
    consent = selectors.case_consents(case=case).filter(pk=consent_pk).first()
    if consent is None:
        raise Http404
    return consent


@agency_required
@require_POST
def consent_record(request, pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.add_consent")
    form = ConsentForm(request.POST, request.FILES, case=case)
    if form.is_valid():
        if form_tokens.claim(request) is not None:
            messages.info(
                request, "This form was already submitted: the consent was recorded once."
            )
            return _after_change(request, case, "consent")
        try:
            consent = services.consent_record_with_upload(
                actor=request.user,
                case=case,
                upload=form.cleaned_data["document"],
                **form.consent_fields(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                f"Consent recorded for {consent.recipient}, until {consent.ends_on:%b %-d, %Y}.",
            )
            return _after_change(request, case, "consent")
    return _render_case(request, case, TABS_BY_SLUG["consent"], bound=form)


@agency_required
@require_POST
def consent_revoke(request, pk, consent_pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.change_consent")
    consent = _consent_or_404(case, consent_pk)
    form = ConsentRevokeForm(request.POST, consent=consent)
    if form.is_valid():
        try:
            services.consent_revoke(
                actor=request.user, consent=consent, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                f"Consent for {consent.recipient} revoked. Partners it alone covered no "
                "longer see the case.",
            )
            return _after_change(request, case, "consent")
    return _render_case(request, case, TABS_BY_SLUG["consent"], bound=form)


@agency_required
@require_POST
def emergency_access_grant(request, pk):
    """Break-glass, for agency managers. Posted without htmx: the page comes back whole,
    with the banner of the case header."""
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.add_emergencyaccess")
    form = EmergencyAccessForm(request.POST, case=case)
    if form.is_valid():
        if form_tokens.claim(request) is not None:
            messages.info(request, "This form was already submitted: access was granted once.")
            return _after_change(request, case, "consent")
        try:
            grant = services.emergency_access_grant(
                actor=request.user, case=case, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            until = timezone.localtime(grant.expires_at)
            messages.success(
                request,
                f"Emergency access granted to {grant.organization.name} until "
                f"{until:%b %-d, %Y %-I:%M %p}. Record the client's consent before then.",
            )
            return _after_change(request, case, "consent")
    return _render_case(request, case, TABS_BY_SLUG["consent"], bound=form)


# Records -------------------------------------------------------------------------------------


@agency_required
@require_POST
def record_add(request, pk, kind):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    declared = KINDS.get(kind)
    if declared is None:
        raise Http404
    _require(request.user, declared.model_permission("add"))
    form = declared.form_class(request.POST, request.FILES)
    if form.is_valid():
        if form_tokens.claim(request) is not None:
            label = declared.singular
            messages.info(request, f"This form was already submitted: the {label} was added once.")
            return _after_change(request, case, kind)
        shared = form.cleaned_data["shared_with_partners"]
        try:
            if kind == "attachments":
                services.attachment_add(
                    actor=request.user,
                    case=case,
                    upload=form.cleaned_data["file"],
                    description=form.cleaned_data["description"],
                    shared_with_partners=shared,
                    substance_use=form.cleaned_data["substance_use"],
                )
            else:
                services.record_add(
                    actor=request.user,
                    case=case,
                    kind=kind,
                    shared_with_partners=shared,
                    **form.record_fields(),
                )
        except ValidationError as exc:
            form.add_error("file" if kind == "attachments" else None, exc)
        else:
            how = "shared with partners" if shared else "not shared with partners"
            messages.success(request, f"{declared.singular} added ({how}).")
            return _after_change(request, case, kind)
    return _render_case(request, case, TABS_BY_SLUG[kind], bound=form)


@agency_required
@require_POST
def servicerequest_status(request, pk, record_pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    _require(request.user, "cases.change_servicerequest")
    record = selectors.case_records(case=case, kind="servicerequests").filter(pk=record_pk).first()
    if record is None:
        raise Http404
    form = ServiceRequestStatusForm(request.POST)
    if form.is_valid():
        services.record_update(
            actor=request.user, record=record, status=form.cleaned_data["status"]
        )
        messages.success(request, f"{record.number} is now {record.get_status_display()}.")
    else:
        messages.error(request, "Choose one of the statuses.")
    return _after_change(request, case, "servicerequests")


@agency_required
def attachment_download(request, pk, attachment_pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    attachment = (
        selectors.case_records(case=case, kind="attachments").filter(pk=attachment_pk).first()
    )
    if attachment is None:
        raise Http404
    return attachment_response(actor=request.user, attachment=attachment)


# Live oversight ------------------------------------------------------------------------------


@agency_required
def case_live(request, pk):
    """Polled by the open case page every few seconds with the id of the newest event it
    has seen. Nothing new: 204 after one index probe. Otherwise out-of-band fragments for
    just what the new events touch: the partner activity feed, the status header, the
    Case Team summary, and the open tab's list."""
    latest = selectors.case_last_event_id(user=request.user, pk=pk)
    if latest is None:
        raise Http404
    seen = _int(request.GET.get("after"))
    if latest <= seen:
        return HttpResponse(status=204)
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    events = list(selectors.case_events_since(case=case, event_id=seen)[:LIVE_MAX_EVENTS])
    verbs = {event.verb for event in events}
    kinds = {event.data.get("kind") for event in events}
    open_tab = request.GET.get("tab", "")
    context = {
        "case": case,
        "cursor": max([latest, *(event.pk for event in events)]),
        "feed": _described([e for e in events if e.by_partner or e.actor_id is None]),
    }
    if verbs & HEADER_VERBS:
        context["header"] = _header_context(request.user, case)
    if verbs & TEAM_VERBS:
        context["team_summary"] = _team_summary(case)
    if open_tab in KINDS and open_tab in kinds:
        context["records_tab"] = _records_context(request, case, open_tab)
        context["fresh_ids"] = {
            e.data.get("record_id")
            for e in events
            if e.data.get("kind") == open_tab and e.actor_id != request.user.pk
        }
    elif open_tab == "team" and verbs & TEAM_VERBS:
        context["members"] = list(selectors.case_team(case=case))
        context["referrals"] = list(selectors.case_referrals(case=case)[:50])
    elif open_tab == "partners" and verbs & PARTNER_VERBS:
        context["partners"] = list(selectors.case_partners(case=case))
    elif open_tab == "history":
        context["history_new"] = _described(events)
    return render(request, "cases/includes/live_update.html", context)


# Referrals board -----------------------------------------------------------------------------

REFERRAL_STATES = (
    ("", "Open referrals"),
    ("pending", "Pending"),
    ("overdue", "Overdue"),
    ("accepted", "Accepted"),
    ("in_progress", "In progress"),
    ("waitlisted", "Waitlisted"),
    ("escalated", "Escalated to the owner"),
    ("completed_week", "Completed this week"),
    ("unassigned", "No partner agent"),
)


def _board_row(item, *, now) -> dict:
    """One row of the Referrals board, from a referral or (No partner agent) a case: its
    case, its referral, who has it, how long it has waited and the last partner action."""
    if isinstance(item, Referral):
        case, referral, former = item.case, item, []
        since = referral.requested_at if referral.state == Referral.State.PENDING else None
    else:
        case, referral, former = item, None, item.partner_members[:1]
        since = case.status_changed_at
    days = (now - since).days if since else None
    return {
        "case": case,
        "referral": referral,
        "former": former,
        "primary_partner": item.primary_partner_name,
        "days": days,
        "stale": days is not None and days >= STALE_AFTER_DAYS,
        "last_action": Verb(item.last_partner_verb).label if item.last_partner_verb else None,
        "last_actor": item.last_partner_actor,
        "last_action_at": item.last_partner_action_at,
    }


@agency_required
@require_GET
def referrals(request):
    """The Referrals board. It polls itself: `since` is the newest event when the page was
    drawn, and while no case has a newer one the answer is 204 (one index lookup)."""
    state = request.GET.get("state", "")
    if state not in selectors.REFERRAL_BOARD_STATES:
        state = ""
    cursor = selectors.latest_event_id()
    since = request.GET.get("since", "")
    if request.htmx and since.isdigit() and int(since) >= cursor:
        return HttpResponse(status=204)
    if state == "unassigned":
        board = selectors.agency_cases_without_partner_agent(user=request.user)
    else:
        board = selectors.agency_referral_board(user=request.user, state=state)
    page, pagination = _paginate(
        board,
        number=request.GET.get("page"),
        per_page=PER_PAGE,
        url=reverse("cases:referrals"),
        params={"state": state},
    )
    now = timezone.now()
    context = {
        "rows": [_board_row(item, now=now) for item in page],
        "page": page,
        "pagination": pagination,
        "state": state,
        "state_label": dict(REFERRAL_STATES)[state],
        "states": REFERRAL_STATES,
        "stale_after": STALE_AFTER_DAYS,
        "cursor": cursor,
        "probe_url": reverse("cases:referrals")
        + "?"
        + urlencode({"state": state, "page": page.number, "since": cursor}),
    }
    return render(request, "cases/referrals.html", context)
