from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`manage.py load_demo`: the demo data (demo/data.toml), built through the services.
    No other app imports it."""

    name = "demo"
    verbose_name = "Demo data"
