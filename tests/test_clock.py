"""The clock every write is stamped with: the real time, or the clock a block runs on (the
demo's past is written that way, with no patching of Django)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from cases import services
from casesite import clock
from casesite.clock import StampField
from tests.factories import make_referral

PAST = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)


def stamp_fields():
    """Every auto_now / auto_now_add field of the project's models."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, StampField):
                yield model, field


def test_now_is_the_real_time_outside_a_block_and_the_blocks_clock_inside_it():
    assert abs(clock.now() - timezone.now()) < timedelta(seconds=5)
    with clock.on(lambda: PAST):
        assert clock.now() == PAST
        with clock.on(lambda: PAST + timedelta(days=1)):
            assert clock.now() == PAST + timedelta(days=1)
        assert clock.now() == PAST
    assert clock.now() != PAST


def test_every_creation_and_change_time_of_the_models_is_a_stamp_field():
    """A plain auto_now field would ignore the clock: none is left."""
    plain = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_models()
        if model._meta.app_label in {"cases", "partners"}
        for field in model._meta.concrete_fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if not isinstance(field, StampField)
    ]
    assert plain == []
    assert len(list(stamp_fields())) >= 15


@pytest.mark.django_db
def test_a_referral_worked_on_another_clock_is_stamped_with_its_time_everywhere(partner_agent):
    """Case, Case Team, Partners, referral, records, events, Inbox: every row the services
    write carries the block's time, none the real time."""
    with clock.on(lambda: PAST):
        case, member = make_referral(agent_user=partner_agent, name="Written in the past")
        services.referral_accept(actor=partner_agent, referral=member.referral)
        services.record_add(actor=partner_agent, case=case, kind="notes", body="Called")
        services.referral_complete(
            actor=partner_agent, referral=member.referral, outcome="served", note="Done"
        )
    member.referral.refresh_from_db()
    assert member.referral.requested_at == member.referral.responded_at == PAST
    assert member.referral.completed_at == PAST
    checked = 0
    for model, field in stamp_fields():
        if model._meta.app_label != "cases":
            continue  # the organization and its agents were made before the block
        values = set(model.objects.values_list(field.attname, flat=True))
        if values:
            assert values == {PAST}, f"{model.__name__}.{field.name}"
            checked += 1
    assert checked >= 8
