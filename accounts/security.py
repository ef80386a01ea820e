"""The security log and the policies around sign-in.

- `record()` appends a SecurityEvent, taking address, path and request id from the request
  being served (casesite's RequestIdMiddleware keeps it in a context variable).
- Signal handlers record sign-in success and failure, lockouts, sign-out, password changes
  and deactivations (the cases app copies status transitions and downloads from its own
  trail). A deactivated account or a changed password ends every session of that user.
- `ThrottlingAxesHandler` adds a per-address limit to django-axes' per (user name,
  address) lockout, so one address cannot try many user names, while nobody elsewhere can
  lock a user out.
"""

import logging
import time

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_ip_address
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import Sum
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from casesite.middleware import current_request, loggable

from .models import SecurityEvent
from .sessions import end_sessions_of

logger = logging.getLogger("caseworks.security")

# Session keys written at sign-in (read by SessionTimeoutMiddleware and the MFA middleware).
SESSION_SIGNED_IN_AT = "cw_signed_in_at"
SESSION_SEEN_AT = "cw_seen_at"
SESSION_MFA_PENDING = "cw_mfa_pending"


def client_ip(request) -> str | None:
    """The client's address as django-axes sees it (one rule for lockouts and the log)."""
    if request is None:
        return None
    try:
        return get_client_ip_address(request) or None
    except Exception:  # a malformed header must never break the response
        return request.META.get("REMOTE_ADDR") or None


def record(kind: str, *, request=None, user=None, username: str = "", **data) -> SecurityEvent:
    """Append one security event. `request` defaults to the request being served."""
    request = request if request is not None else current_request.get()
    if user is None and request is not None:
        candidate = getattr(request, "user", None)
        if candidate is not None and candidate.is_authenticated:
            user = candidate
    if user is not None and not username:
        username = user.get_username()
    event = SecurityEvent.objects.create(
        kind=kind,
        user=user if user is not None and user.pk else None,
        username=(username or "")[:150],
        ip=client_ip(request),
        path=(request.path if request is not None else "")[:255],
        request_id=getattr(request, "id", "") if request is not None else "",
        data=data,
    )
    logger.info(
        "security event %s user=%s ip=%s path=%s",
        kind,
        loggable(event.username),
        event.ip,
        loggable(event.path),
    )
    return event


# Sign-in, sign-out, lockout -----------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="caseworks_security_logged_in")
def on_logged_in(sender, request, user, **kwargs):
    if request is None:
        return
    record(SecurityEvent.Kind.SIGN_IN, request=request, user=user)
    session = getattr(request, "session", None)
    if session is not None:
        now = int(time.time())
        session[SESSION_SIGNED_IN_AT] = now
        session[SESSION_SEEN_AT] = now


@receiver(user_login_failed, dispatch_uid="caseworks_security_login_failed")
def on_login_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get(get_user_model().USERNAME_FIELD) or ""
    record(SecurityEvent.Kind.SIGN_IN_FAILED, request=request, username=str(username))


@receiver(user_locked_out, dispatch_uid="caseworks_security_locked_out")
def on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    record(SecurityEvent.Kind.LOCKED_OUT, request=request, username=str(username or ""))


@receiver(user_logged_out, dispatch_uid="caseworks_security_logged_out")
def on_logged_out(sender, request=None, user=None, **kwargs):
    if user is not None and request is not None:
        record(SecurityEvent.Kind.SIGN_OUT, request=request, user=user)


# Deactivation and password change end the user's sessions ------------------------------------

User = get_user_model()


@receiver(pre_save, sender=User, dispatch_uid="caseworks_security_user_pre_save")
def remember_deactivation(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._cw_deactivated = False
    if raw or instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    was_active = sender.objects.filter(pk=instance.pk, is_active=True).exists()
    instance._cw_deactivated = was_active


@receiver(post_save, sender=User, dispatch_uid="caseworks_security_user_post_save")
def end_sessions_on_deactivation_or_new_password(sender, instance, created, raw=False, **kwargs):
    if raw or created:
        return
    password_changed = getattr(instance, "_password", None) is not None
    deactivated = getattr(instance, "_cw_deactivated", False) or (
        not instance.is_active and password_changed
    )
    if not (deactivated or password_changed):
        return
    # The current request's own session (after a password change) is saved again by
    # update_session_auth_hash under a new key, so that user stays signed in there.
    ended = end_sessions_of(instance.pk)
    if deactivated:
        record(SecurityEvent.Kind.USER_DEACTIVATED, user=instance, sessions_ended=ended)
    elif current_request.get() is not None or ended:
        record(SecurityEvent.Kind.PASSWORD_CHANGED, user=instance, sessions_ended=ended)


# Lockout by user name and address, throttling by address -----------------------------------


class ThrottlingAxesHandler(AxesDatabaseHandler):
    """django-axes' database handler, with two limits instead of one.

    AXES_LOCKOUT_PARAMETERS is [["username", "ip_address"], "ip_address"]: the first
    counts failures of one user name from one address (AXES_FAILURE_LIMIT), the second all
    failures from one address, whatever the user name (AXES_IP_FAILURE_LIMIT, higher, so
    that an office behind one address is not locked out by a few typos). The address count
    is scaled onto the user-name limit, because axes compares one number with one limit.
    A lockout never reaches the same user from another address."""

    def get_failures(self, request, credentials=None) -> int:
        counts = [
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        ]
        if len(counts) != 2:
            return max(counts, default=0)
        per_user, per_address = counts
        limit = settings.AXES_FAILURE_LIMIT
        address_limit = max(getattr(settings, "AXES_IP_FAILURE_LIMIT", limit), 1)
        return max(per_user, per_address * limit // address_limit)

    def reset_user_attempts(self, request, credentials=None) -> int:
        """A successful sign-in clears that user name's failures from that address only:
        axes would also clear the whole address, letting an attacker with one valid account
        reset the address throttle by signing in between guesses."""
        attempts_list = self.filter_user_attempts(request, credentials)
        if len(attempts_list) != 2:
            return super().reset_user_attempts(request, credentials)
        count, _ = attempts_list[0].delete()
        return count
