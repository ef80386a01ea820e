from django.apps import AppConfig


class CasesiteConfig(AppConfig):
    name = "casesite"
    verbose_name = "Caseworks site"

    def ready(self):
        # Signal handlers of the security log, and the admin's two-step check.
        from django.contrib import admin

        from . import security  # noqa: F401
        from .admin import CaseworksAdminSite

        admin.site.__class__ = CaseworksAdminSite
