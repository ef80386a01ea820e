"""One way to name a person in what Caseworks writes."""

import pytest

from accounts.people import display_name
from tests.factories import UserFactory


@pytest.mark.django_db
def test_a_person_is_named_by_full_name_or_else_by_user_name():
    named = UserFactory(username="jdoe", first_name="Jane", last_name="Doe")
    unnamed = UserFactory(username="intake-desk", first_name="", last_name="")
    assert display_name(named) == "Jane Doe"
    assert display_name(unnamed) == "intake-desk"
