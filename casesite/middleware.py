"""Site-wide plumbing: the request id (on the response, in every log line and in the
request context other modules read), and the page answered while the database is down."""

import contextvars
import logging
import re
import time
import uuid

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def loggable(text) -> str:
    """`text` for one log line: control characters (a newline in a user name or a decoded
    path) written as escapes, so that nobody can forge a line of the log."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


# The request being served in this thread or task, set by RequestIdMiddleware.
current_request: contextvars.ContextVar = contextvars.ContextVar("current_request", default=None)


def _install_request_id_on_log_records() -> None:
    """Every log record made while a request is served carries its id (`%(request_id)s` in
    the log format), so an error page's reference finds the traceback in the log."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "caseworks", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        request = current_request.get()
        record.request_id = getattr(request, "id", "-") if request is not None else "-"
        return record

    factory.caseworks = True
    logging.setLogRecordFactory(factory)


# Installed on import: settings load this module for every process that serves requests.
_install_request_id_on_log_records()


request_logger = logging.getLogger("caseworks.request")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id: `request.id`, the `X-Request-ID` response header, the log
    line of the request and the reference shown on the error pages. A well-formed id from
    the proxy in front is kept so that both logs can be matched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request.id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        token = current_request.set(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.id
            request_logger.info(
                "%s %s %s %.0fms",
                loggable(request.method),
                loggable(request.path),
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
        finally:
            current_request.reset(token)
        return response


DATABASE_DOWN = (OperationalError, InterfaceError)


def database_unavailable_response(request):
    """A friendly 503 that needs no database (no context processors, no session)."""
    from django.template.loader import render_to_string

    body = render_to_string("503.html", {"request_id": getattr(request, "id", "")})
    response = HttpResponse(body, status=503)
    response["Retry-After"] = "30"
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """When the database cannot be reached, answer 503 with a page that says so and
    invites a retry, never a traceback. Errors raised outside the view (in middleware)
    reach casesite.views.server_error, which answers the same."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_DOWN):
            logging.getLogger("caseworks.database").warning(
                "database unavailable: %s request_id=%s",
                exception.__class__.__name__,
                getattr(request, "id", ""),
            )
            return database_unavailable_response(request)
        return None
