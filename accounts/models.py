"""The append-only security log and sessions that know their user.

Both tables were created by the casesite app before these models moved here; they keep
their names (`db_table`), and accounts' first migration only takes them over in Django's
state."""

from importlib import import_module

import pgtrigger
from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk writes that would rewrite history are refused."""

    def update(self, **kwargs):
        raise PermissionError("Security events are append-only.")

    def delete(self):
        raise PermissionError("Security events are append-only.")


class SecurityEvent(models.Model):
    """Append-only log of what matters for security: sign-ins and their failures,
    lockouts, MFA, denied object access, downloads and status transitions.

    Rows are written by signal handlers and middleware (accounts/security.py) and read
    in the admin; nothing in the application can change or delete one."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", "Signed in"
        SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
        LOCKED_OUT = "locked_out", "Locked out"
        SIGN_OUT = "sign_out", "Signed out"
        SESSION_EXPIRED = "session_expired", "Session timed out"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        USER_DEACTIVATED = "user_deactivated", "Account deactivated"
        MFA_ENROLLED = "mfa_enrolled", "Set up two-step verification"
        MFA_VERIFIED = "mfa_verified", "Passed two-step verification"
        MFA_FAILED = "mfa_failed", "Failed two-step verification"
        ACCESS_DENIED = "access_denied", "Denied access"
        DOWNLOAD = "download", "Downloaded an attachment"
        TRANSITION = "transition", "Changed a case status"
        CSRF_REFUSED = "csrf_refused", "Form refused (CSRF check failed)"
        EMERGENCY_ACCESS = "emergency_access", "Granted emergency access to a case"
        ACCOUNTING = "accounting", "Viewed an accounting of disclosures"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The signed-in user, when there is one.",
    )
    username = models.CharField(
        max_length=150, blank=True, help_text="The user name given, even if no such user exists."
    )
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    path = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        db_table = "casesite_securityevent"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["kind", "-created_at"], name="securityevent_kind"),
            models.Index(fields=["user", "-created_at"], name="securityevent_user"),
        ]
        # Append-only in PostgreSQL itself, whatever the client: no row is changed or deleted.
        triggers = [
            pgtrigger.Protect(
                name="securityevent_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.username}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Security events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Security events are append-only.")


class UserSession(AbstractBaseSession):
    """A database session that records whose it is, so that deactivating a user or
    changing a password can end that user's sessions with one indexed DELETE."""

    user_id = models.BigIntegerField(null=True, db_index=True)

    class Meta:
        db_table = "casesite_usersession"
        verbose_name = "session"

    @classmethod
    def get_session_store_class(cls):
        # The engine named by the settings (accounts.sessions), which imports this model.
        return import_module(settings.SESSION_ENGINE).SessionStore
