from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases"

    def ready(self):
        # The Assignment Manager: routing after a referral, email notifications.
        from .routing import hooks

        hooks.register()
