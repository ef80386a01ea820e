from django.apps import AppConfig


class CasesiteConfig(AppConfig):
    """The site's wiring. Installed for its migration history: the role groups, and the
    security log and session tables, whose models moved to `accounts` (same tables)."""

    name = "casesite"
    verbose_name = "Caseworks site"
