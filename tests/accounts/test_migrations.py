"""The security log and the sessions moved from casesite to accounts without losing a row:
the tables stay, the content types follow, and the append-only trigger is installed again
under the new model's name (PostgreSQL)."""

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import InternalError

from accounts.models import SecurityEvent, UserSession

BEFORE = [("casesite", "0004_append_only_triggers"), ("accounts", None)]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def triggers() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'pgtrigger_security%'")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_read_and_protected_after_it(django_user_model):
    user = django_user_model.objects.create_user("before-the-move")
    try:
        executor = migrate(BEFORE)
        old = executor.loader.project_state(BEFORE[0]).apps
        OldEvent = old.get_model("casesite", "SecurityEvent")
        OldSession = old.get_model("casesite", "UserSession")
        OldEvent.objects.create(kind="sign_in", user_id=user.pk, username=user.username)
        OldSession.objects.create(
            session_key="k" * 32, session_data="", expire_date="2030-01-01T00:00Z", user_id=7
        )
        if connection.vendor == "postgresql":
            assert len(triggers()) == 1
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    event = SecurityEvent.objects.get(username="before-the-move")
    assert (event.kind, event.user) == ("sign_in", user)
    assert UserSession.objects.get(session_key="k" * 32).user_id == 7
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    labels = set(
        ContentType.objects.filter(model__in=["securityevent", "usersession"]).values_list(
            "app_label", flat=True
        )
    )
    assert labels == {"accounts"}
    if connection.vendor == "postgresql":
        (name,) = triggers()
        assert name.startswith("pgtrigger_securityevent_append_only_")
        with (
            pytest.raises(InternalError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("DELETE FROM casesite_securityevent")
    assert SecurityEvent.objects.filter(username="before-the-move").exists()
