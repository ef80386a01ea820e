"""Site-wide answers that need no app: the health check and the error page."""

import sys

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseServerError
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from .middleware import DATABASE_DOWN, database_unavailable_response


@login_not_required
@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


def server_error(request):
    """handler500: a generic page with the request id; no traceback, SQL or settings.

    Rendered without context processors, which could need the database. When the cause is
    an unreachable database (raised in a middleware, where DatabaseUnavailableMiddleware does
    not see it), answer the friendly 503 instead."""
    exception = sys.exc_info()[1]
    if isinstance(exception, DATABASE_DOWN):
        return database_unavailable_response(request)
    body = render_to_string("500.html", {"request_id": getattr(request, "id", "")})
    return HttpResponseServerError(body)
