"""Fixtures for the cases tests: signed-in clients, the services without their routing and
email hooks, fast password hashing, private storage, and the demo data loaded once per module
that asks for it."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings


def storages_in(location) -> dict:
    """The project's storages with attachments written to `location`."""
    default = settings.STORAGES["default"]
    options = {**default.get("OPTIONS", {}), "location": location}
    return {**settings.STORAGES, "default": {**default, "OPTIONS": options}}


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def fast_password_hashing(settings):
    """The many users these tests build need no production-strength password hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def services_without_routing(monkeypatch):
    """The services alone: automatic routing on referral and the emails are tested with
    routing (test_routing*.py, test_notifications.py)."""

    monkeypatch.setattr("cases.routing.hooks.route_after_refer", lambda **kwargs: None)


@pytest.fixture
def manager_client(client, agency_manager):
    client.force_login(agency_manager)
    return client


@pytest.fixture
def caseworker_client(client, caseworker):
    client.force_login(caseworker)
    return client


@pytest.fixture
def private_storage(settings, tmp_path):
    """Attachments written by the test go to a temporary directory."""
    settings.STORAGES = storages_in(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """`manage.py load_demo`, run once for the module and rolled back after it: each test
    runs in a savepoint inside this transaction. Tests that load the demo themselves must
    run before the first test that uses this fixture (or in another module)."""
    location = tmp_path_factory.mktemp("demo-attachments")
    with (
        django_db_blocker.unblock(),
        override_settings(STORAGES=storages_in(location)),
        transaction.atomic(),
    ):
        yield load_demo()
        transaction.set_rollback(True)
