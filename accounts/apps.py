from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Identity and security: roles, sign-in, two-step verification, sessions that know
    their user, and the append-only security log."""

    name = "accounts"
    verbose_name = "Accounts and security"

    def ready(self):
        # Signal handlers of the security log, and the admin's two-step check.
        from django.contrib import admin

        from . import mfa, security  # noqa: F401
        from .admin import CaseworksAdminSite

        admin.site.__class__ = CaseworksAdminSite
