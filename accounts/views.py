"""Sign-in and the pages around it: the home redirect, the agency's sign-in and password
change, and the refusal of a form without a valid CSRF token (recorded)."""

import logging

from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.shortcuts import redirect, render

from casesite.middleware import loggable

from . import security
from .forms import UswdsPasswordChangeForm
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
        logger.exception("The CSRF refusal of %s could not be recorded", loggable(request.path))
    return render(request, "403_csrf.html", status=403)
