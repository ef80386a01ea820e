from django.apps import AppConfig


class BenchConfig(AppConfig):
    """`make bench` only: the baseline pages B0 and B1 and the seeding and routing commands.
    Installed by bench.settings alone; no other app imports it."""

    name = "bench"
    verbose_name = "Benchmark"
