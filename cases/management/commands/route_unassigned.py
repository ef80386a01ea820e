"""Route every unassigned Third-Party case with the active routing rules."""

from django.core.management.base import BaseCommand

from cases.routing import cases_route_unassigned


def format_counts(counts) -> str:
    labels = {
        "assigned": "assigned",
        "no_rule": "without a matching rule",
        "no_candidate": "without an eligible candidate",
        "escalated": "escalated",
        "expired": "expired",
        "skipped": "skipped (taken by another router or changed)",
        "left": "left as they were",
        "errors": "failed (see the log)",
    }
    parts = [f"{counts[key]} {label}" for key, label in labels.items() if counts.get(key)]
    return ", ".join(parts) or "nothing to do"


class Command(BaseCommand):
    help = (
        "Route every unassigned Third-Party case (oldest first) with the active routing "
        "rules. Safe to run from several processes at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="At most this many cases.")

    def handle(self, *args, limit=None, **options):
        counts = cases_route_unassigned(actor=None, limit=limit)
        self.stdout.write(f"Routing: {format_counts(counts)}.")
