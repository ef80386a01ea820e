"""The site's URLs plus views that fail on purpose (error pages, database outage)."""

from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError
from django.urls import path

from casesite.urls import urlpatterns as site_urlpatterns

handler500 = "casesite.views.server_error"

SECRET_IN_EXCEPTION = "SELECT secret_column FROM cases_case WHERE password='hunter2'"


@login_not_required
def boom(request):
    raise RuntimeError(SECRET_IN_EXCEPTION)


@login_not_required
def database_down(request):
    raise OperationalError("could not connect to server: Connection refused")


@login_not_required
def connection_closed(request):
    raise InterfaceError("connection already closed")


urlpatterns = [
    path("boom/", boom),
    path("database-down/", database_down),
    path("connection-closed/", connection_closed),
    *site_urlpatterns,
]
