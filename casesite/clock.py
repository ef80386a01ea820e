"""The time Caseworks stamps on what it writes.

Every service and every creation or change time of a model reads `now()`. It is the real time
(`django.utils.timezone.now`) unless a block of code runs `on()` another clock: `load_demo`
writes the demo's past that way, running the same services as the agency and the partners
on a clock that starts weeks ago. The clock is a context variable, so it holds for the block
and the thread that set it and for nothing else.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import models
from django.utils import timezone

_clock: ContextVar[Callable[[], datetime] | None] = ContextVar("caseworks_clock", default=None)


def now() -> datetime:
    """The current time of this block: the real time, or the clock it runs on."""
    clock = _clock.get()
    return timezone.now() if clock is None else clock()


@contextmanager
def on(clock: Callable[[], datetime]) -> Iterator[None]:
    """Run the block with `clock` as `now()`."""
    token = _clock.set(clock)
    try:
        yield
    finally:
        _clock.reset(token)


class StampField(models.DateTimeField):
    """A `DateTimeField` whose `auto_now` and `auto_now_add` stamp `now()`."""

    def pre_save(self, model_instance, add):
        if self.auto_now or (self.auto_now_add and add):
            value = now()
            setattr(model_instance, self.attname, value)
            return value
        return super().pre_save(model_instance, add)
