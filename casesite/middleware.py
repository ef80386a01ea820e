"""Site-wide middleware: request ids, no-store for signed-in pages, session timeouts,
two-step verification, the denied-access audit and the database-outage page."""

import logging
import re
import time
import uuid

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

from . import security


class DenyByDefaultMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, except that every admin page (model pages included,
    whose views Django wraps without the admin's own sign-in URL) sends an anonymous visitor
    to the admin's sign-in, as the admin index does."""

    def get_login_url(self, view_func):
        if hasattr(view_func, "model_admin") or hasattr(view_func, "admin_site"):
            return "admin:login"
        return super().get_login_url(view_func)


class NoStoreForAuthenticatedMiddleware:
    """Pages rendered for a signed-in user must not stay in shared or browser caches."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response:
            add_never_cache_headers(response)
            response["Cache-Control"] = "private, no-store, no-cache, must-revalidate, max-age=0"
        return response


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
        token = security.current_request.set(request)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.id
            request_logger.info(
                "%s %s %s %.0fms",
                security.loggable(request.method),
                security.loggable(request.path),
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
        finally:
            security.current_request.reset(token)
        return response


def _redirect(request, url: str):
    """A redirect that htmx follows with a full page load instead of swapping it in."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _sign_in_url(request) -> str:
    name = "portal:login" if request.path.startswith("/portal/") else settings.LOGIN_URL
    return reverse(name)


class SessionTimeoutMiddleware:
    """End a session after SESSION_IDLE_TIMEOUT seconds without a request, and in any case
    SESSION_COOKIE_AGE seconds after sign-in (absolute). The last-seen time is written at
    most once a minute, so ordinary requests do not save the session."""

    WRITE_EVERY = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session = request.session
            now = int(time.time())
            signed_in = session.get(security.SESSION_SIGNED_IN_AT)
            seen = session.get(security.SESSION_SEEN_AT)
            if signed_in is None or seen is None:
                session[security.SESSION_SIGNED_IN_AT] = signed_in or now
                session[security.SESSION_SEEN_AT] = now
            elif (
                now - seen > settings.SESSION_IDLE_TIMEOUT
                or now - signed_in > settings.SESSION_COOKIE_AGE
            ):
                reason = "idle" if now - seen > settings.SESSION_IDLE_TIMEOUT else "absolute"
                security.record(security.SecurityEvent.Kind.SESSION_EXPIRED, reason=reason)
                logout(request)
                query = urlencode({"next": request.get_full_path()})
                return _redirect(request, f"{_sign_in_url(request)}?{query}")
            elif now - seen >= self.WRITE_EVERY:
                session[security.SESSION_SEEN_AT] = now
        return self.get_response(request)


class MFARequiredMiddleware:
    """Until a signed-in user who owes a two-step code has given it, every page but the
    MFA pages and sign-out redirects to them (the admin included). See casesite/mfa.py."""

    EXEMPT_NAMES = ("mfa_verify", "mfa_setup", "logout", "portal:logout", "admin:logout")

    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt = None

    def exempt_paths(self) -> set[str]:
        if self._exempt is None:
            self._exempt = {reverse(name) for name in self.EXEMPT_NAMES} | {reverse("healthz")}
        return self._exempt

    def __call__(self, request):
        from .mfa import has_confirmed_device, mfa_pending

        if (
            request.path_info not in self.exempt_paths()
            and not request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/"))
            and mfa_pending(request)
        ):
            name = "mfa_verify" if has_confirmed_device(request.user) else "mfa_setup"
            query = urlencode({"next": request.get_full_path()})
            return _redirect(request, f"{reverse(name)}?{query}")
        return self.get_response(request)


class DeniedAccessAuditMiddleware:
    """A signed-in user who gets 403 or 404 from a case or portal page is logged: that is
    how probing for other people's cases shows up (SecurityEvent "access_denied")."""

    WATCHED = ("/cases/", "/portal/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code in (403, 404) and request.path.startswith(self.WATCHED):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                security.record(
                    security.SecurityEvent.Kind.ACCESS_DENIED,
                    request=request,
                    status=response.status_code,
                    method=request.method,
                )
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
