"""SECURITY.md Access control (1, 2, 4, 5) and the matrix: every URL pattern, every role.

One test per matrix entry plays all roles on a freshly seeded world. For each cell it
checks the answer; that no sentinel string hidden from that role appears in the body or
headers; and, for a signed-in user's 403 or 404, that the database did not change and one
security event was written. Each cell runs in a savepoint that is rolled back, so a
permitted POST does not change what the next role sees."""

import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from . import matrix
from .conftest import audit_counts, database_state
from .world import SHARED_A, build_world

TOTALS = {"cells": 0, "requests": 0, "denials_audited": 0, "sentinel_checks": 0}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }


@pytest.fixture(autouse=True)
def no_routing_or_mail_side_effects(monkeypatch):

    monkeypatch.setattr("cases.routing.hooks.route_after_refer", lambda **kwargs: None)


@pytest.fixture
def world(
    partner_agent,
    partner_colleague,
    partner_manager,
    outsider,
    caseworker,
    agency_manager,
    admin_user,
    northside,
    harbor,
):
    return build_world(
        pa=partner_agent,
        pb=partner_colleague,
        pm=partner_manager,
        pc=outsider,
        ag=caseworker,
        am=agency_manager,
        adm=admin_user,
        northside=northside,
        harbor=harbor,
    )


@pytest.fixture
def clients(world):
    """One client per role, signed in; PXD's account is deactivated after signing in."""
    result = {"ANON": Client()}
    for role, user in world.users.items():
        client = Client()
        client.force_login(user)
        result[role] = client
    pxd = world.users["PXD"]
    pxd.is_active = False
    pxd.save()
    return result


def url_of(entry: matrix.Entry, world) -> str:
    def fill(match):
        name = match.group(1).rpartition(":")[2]
        key = entry.kwargs[name]
        return key[1:] if key.startswith("=") else str(world.ids[key])

    return "/" + re.sub(r"<([^>]+)>", fill, entry.route)


def data_of(entry: matrix.Entry, world) -> dict:
    def value(v):
        if isinstance(v, list):
            return [value(item) for item in v]
        return str(world.ids[v[1:]]) if isinstance(v, str) and v.startswith("@") else v

    return {key: value(v) for key, v in entry.data.items()}


def answer(response) -> str:
    status = response.status_code
    if status in (301, 302, 303):
        location = response["Location"]
        for prefix, name in (
            ("/portal/login/", "login:portal"),
            ("/login/", "login"),
            ("/admin/login/", "admin_login"),
        ):
            if location.startswith(prefix):
                return name
        return "done"
    return "ok" if status == 200 else str(status)


def response_text(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + body.decode(errors="replace")


class Rollback(Exception):
    pass


def play(client, entry, world):
    url = url_of(entry, world)
    if entry.method == "GET":
        return client.get(url)
    return client.post(url, data_of(entry, world))


def check_cell(entry, role, client, world) -> list[str]:
    """Play one cell inside a rolled-back savepoint; return what went wrong."""
    problems = []
    expected = entry.expect[role]
    denial = expected in ("403", "404") and role not in ("ANON", "PXD")
    try:
        with transaction.atomic():
            before = database_state() if denial or expected.startswith("login") else None
            counts = audit_counts()
            response = play(client, entry, world)
            got = answer(response)
            TOTALS["requests"] += 1
            if got != expected:
                problems.append(f"{role}: expected {expected}, got {got}")
            text = response_text(response)
            TOTALS["sentinel_checks"] += 1
            leaked = [s for s in world.sentinels_hidden_from(role) if s in text]
            if leaked:
                problems.append(f"{role}: response shows {leaked}")
            if before is not None:
                changed = [k for k, v in database_state().items() if before.get(k) != v]
                if changed:
                    problems.append(f"{role}: a denied request changed {changed}")
            if denial and got == expected:
                new = sum(audit_counts()) - sum(counts)
                TOTALS["denials_audited"] += 1
                if new != 1:
                    problems.append(f"{role}: denial wrote {new} audit events, not 1")
            raise Rollback
    except Rollback:
        pass
    return problems


@pytest.mark.parametrize("entry", matrix.ENTRIES + matrix.ADMIN_ENTRIES, ids=lambda e: e.id)
def test_every_role_gets_the_expected_answer_and_nothing_hidden(entry, world, clients):
    assert set(entry.expect) == set(matrix.ROLES), f"{entry.id}: a role has no expected answer"
    problems = []
    for role in matrix.ROLES:
        TOTALS["cells"] += 1
        problems += check_cell(entry, role, clients[role], world)
    assert problems == [], f"{entry.id} {url_of(entry, world)}: " + "; ".join(problems)


# Every URL pattern has an entry -----------------------------------------------------------


def _walk(resolver, prefix="", namespace=None):
    for item in resolver.url_patterns:
        if isinstance(item, URLResolver):
            ns = item.namespace or namespace
            if ns == "admin":
                continue  # the admin: ADMIN_ENTRIES, and its own test for staff permissions
            yield from _walk(item, prefix + str(item.pattern), ns)
        elif isinstance(item, URLPattern):
            name = f"{namespace}:{item.name}" if namespace and item.name else item.name
            yield (name, prefix + str(item.pattern))


def test_every_url_pattern_has_an_entry_in_the_matrix():
    patterns = set(_walk(get_resolver()))
    covered = {(entry.name, entry.route) for entry in matrix.ENTRIES}
    missing = sorted(patterns - covered, key=str)
    stale = sorted(covered - patterns, key=str)
    assert missing == [], f"URL patterns without a row in tests/security/matrix.py: {missing}"
    assert stale == [], f"matrix rows for URL patterns that no longer exist: {stale}"


# 2: byte-identical 404s ------------------------------------------------------------------------


def normalized(response) -> bytes:
    body = response.content
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", body)
    body = re.sub(rb'"X-CSRFToken": "[^"]+"', b"", body)
    return re.sub(rb'nonce="[^"]+"', b"", body)


def with_missing_ids(entry, world, keep: set[str]) -> matrix.Entry:
    """The same entry with every id but those in `keep` pointing at nothing."""
    from dataclasses import replace

    missing = {
        name: (key if key.startswith("=") or name in keep else "=987654321")
        for name, key in entry.kwargs.items()
    }
    return replace(entry, kwargs=missing)


# Headers that differ between any two responses: the request id, the session cookie and
# never_cache's Expires (the current time, to the second).
PER_RESPONSE_HEADERS = ("X-Request-ID", "Set-Cookie", "Expires")


def comparable_headers(response) -> dict[str, str]:
    return {k: v for k, v in response.items() if k not in PER_RESPONSE_HEADERS}


PORTAL_OBJECT_ENTRIES = [
    e for e in matrix.ENTRIES if e.name.startswith("portal:") and "<int:" in e.route
]


@pytest.mark.parametrize("entry", PORTAL_OBJECT_ENTRIES, ids=lambda e: e.id)
def test_an_outsider_with_pas_ids_gets_the_same_404_as_for_a_missing_id(entry, world, clients):
    client = clients["PC"]
    hidden = play(client, entry, world)
    missing = play(client, with_missing_ids(entry, world, keep=set()), world)
    assert hidden.status_code == missing.status_code == 404
    assert normalized(hidden) == normalized(missing)
    assert comparable_headers(hidden) == comparable_headers(missing)
    text = response_text(hidden)
    assert [s for s in (*SHARED_A, world.cases["A"].number) if s in text] == []


# Child ids only: a tab or an action slug names no object of another case.
CHILD_ENTRIES = [
    e
    for e in PORTAL_OBJECT_ENTRIES
    if len(e.kwargs) > 1 and "tab" not in e.kwargs and "action" not in e.kwargs
]


@pytest.mark.parametrize("entry", CHILD_ENTRIES, ids=lambda e: e.id)
def test_pa_with_a_child_id_of_another_case_gets_the_same_404_as_for_a_missing_child(
    entry, world, clients
):
    from dataclasses import replace

    client = clients["PA"]
    child = next(name for name in entry.kwargs if name != "pk")
    foreign = replace(entry, kwargs={**entry.kwargs, child: "C_att_shared"})
    if "record_pk" in entry.kwargs:
        from cases.models import ServiceRequest

        foreign_sr = ServiceRequest.objects.create(
            case=world.cases["C"],
            author=world.users["AG"],
            shared_with_partners=True,
            number="SR-C-1",
            title="SHARED-SR-C",
        )
        world.ids["C_sr"] = foreign_sr.pk
        foreign = replace(entry, kwargs={**entry.kwargs, child: "C_sr"})
    hidden = play(client, foreign, world)
    missing = play(client, with_missing_ids(entry, world, keep={"pk"}), world)
    assert hidden.status_code == missing.status_code == 404
    assert normalized(hidden) == normalized(missing)
    assert "SHARED-SR-C" not in response_text(hidden)
    assert "SHARED-FILE-C" not in response_text(hidden)


def test_matrix_totals(capsys):
    """Prints the size of the matrix (run with -s to see it in the log)."""
    entries = matrix.ENTRIES + matrix.ADMIN_ENTRIES
    patterns = len(set(_walk(get_resolver())))
    with capsys.disabled():
        print(
            f"\naccess matrix: {len(entries)} entries x {len(matrix.ROLES)} roles = "
            f"{len(entries) * len(matrix.ROLES)} cells, covering {patterns} URL patterns "
            f"(+ {len(matrix.ADMIN_ENTRIES)} admin entries); this run so far: {TOTALS}"
        )
    assert len(entries) * len(matrix.ROLES) >= 500
