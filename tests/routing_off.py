"""Cases made in a test without the Assignment Manager routing them on referral."""

from contextlib import contextmanager
from unittest import mock


@contextmanager
def routing_off():
    """Referring a case inside this block asks for routing, and nothing answers."""
    with mock.patch("cases.routing.hooks.route_after_refer", lambda **kwargs: None):
        yield
