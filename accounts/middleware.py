"""The middleware of identity and security: sign-in required by default, no-store for
signed-in pages, session timeouts, two-step verification and the denied-access audit."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

from . import security
from .mfa import has_confirmed_device, mfa_pending


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
    MFA pages and sign-out redirects to them (the admin included). See accounts/mfa.py."""

    EXEMPT_NAMES = ("mfa_verify", "mfa_setup", "logout", "portal:logout", "admin:logout")

    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt = None

    def exempt_paths(self) -> set[str]:
        if self._exempt is None:
            self._exempt = {reverse(name) for name in self.EXEMPT_NAMES} | {reverse("healthz")}
        return self._exempt

    def __call__(self, request):
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
