"""The accounting of disclosures of a case: the agency page and its CSV export.

Agency staff (superusers included) only, like every agency case page; a case the user may
not see is 404. Each reading is recorded in the security log (`services.accounting_viewed`).
"""

import csv
import re

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from accounts.roles import agency_required
from casesite import clock

from . import accounting, selectors, services

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@agency_required
@require_GET
def case_disclosures(request, pk):
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    accounts = accounting.case_accounting(case=case)
    services.accounting_viewed(actor=request.user, case=case)
    context = {
        "case": case,
        "accounts": accounts,
        "limit": accounting.PAGE_LIMIT,
        "now": clock.now(),
    }
    return render(request, "cases/disclosures.html", context)


class _Echo:
    """A file that hands back what is written to it: `csv.writer` makes one line at a time."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_START) else value


@agency_required
@require_GET
def case_disclosures_csv(request, pk):
    """Every basis and every disclosure, streamed (the page keeps the newest of each)."""
    case = selectors.agency_case_or_404(user=request.user, pk=pk)
    services.accounting_viewed(actor=request.user, case=case, export=True)
    writer = csv.writer(_Echo())
    lines = (writer.writerow([_cell(v) for v in row]) for row in accounting.csv_rows(case=case))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = re.sub(r"[^A-Za-z0-9-]+", "-", case.number).strip("-") or str(case.pk)
    response["Content-Disposition"] = f'attachment; filename="disclosures-{name}.csv"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# Before the case page's tab catch-all in cases/urls.py.
urlpatterns = [
    path("<int:pk>/disclosures/", case_disclosures, name="disclosures"),
    path("<int:pk>/disclosures.csv", case_disclosures_csv, name="disclosures_csv"),
]
