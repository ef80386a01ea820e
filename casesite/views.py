import logging
import sys

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.http import HttpResponse, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from . import security
from .forms import UswdsPasswordChangeForm
from .middleware import DATABASE_DOWN, database_unavailable_response
from .models import SecurityEvent
from .roles import is_agency_user, is_partner_user

logger = logging.getLogger(__name__)


def home(request):
    """Send each signed-in user to their own workspace."""
    if is_partner_user(request.user):
        return redirect("portal:my_cases")
    if is_agency_user(request.user):
        return redirect("cases:list")
    raise PermissionDenied("Your account has no Caseworks role yet.")


@login_not_required
@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


class AgencyLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class AgencyPasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    form_class = UswdsPasswordChangeForm


def csrf_failure(request, reason=""):
    """A form posted without a valid CSRF token: an expired page, or a forged request from
    another site. Recorded either way; the refusal is answered even if recording fails."""
    try:
        with transaction.atomic():  # a savepoint: a failed insert leaves the request usable
            security.record(
                SecurityEvent.Kind.CSRF_REFUSED,
                request=request,
                method=request.method,
                reason=reason[:200],
            )
    except DatabaseError:
        path = security.loggable(request.path)
        logger.exception("The CSRF refusal of %s could not be recorded", path)
    return render(request, "403_csrf.html", status=403)


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
