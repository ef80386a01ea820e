from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self):
        # The Assignment Manager answers `signals.case_needs_partner`.
        from .routing import hooks  # noqa: F401
