"""SECURITY.md case 16: every state-changing view refuses GET (405) and a POST without a
valid CSRF token (403).

The list is generated from the matrix (`matrix.ENTRIES`): every entry with method POST is
a state-changing view, so a new POST view is covered as soon as it has its row. Each one is
played by a user who may perform it (the positive control proves it: the same POST with
the token gets the matrix's answer), on a freshly seeded world:

- a GET gets 405 with an `Allow` header that does not offer GET, and changes nothing;
- a POST without the CSRF cookie, with the cookie but no token, or with a token that does
  not match the cookie gets the "form has expired" page (403) and changes nothing.

Views that serve a form on GET and take its POST (sign-in, New Case, Edit, rule forms ...)
are listed in FORM_VIEWS with the reason they answer GET; they must refuse a POST without
token too. Every other page of the matrix, posted to with a valid token, must change
nothing: that is what keeps this list of state-changing views complete.
"""

import secrets
import string

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from . import matrix
from . import test_access_matrix as access
from .conftest import database_state

# The matrix's seeded world and its autouse fixtures (pytest finds fixtures by name), and
# how the matrix fills an entry's URL and form data from the world's ids.
world = access.world
fast_password_hashing = access.fast_password_hashing
private_storage = access.private_storage
no_routing_or_mail_side_effects = access.no_routing_or_mail_side_effects
url_of, data_of, answer = access.url_of, access.data_of, access.answer

SIGNED_IN = tuple(role for role in matrix.ROLES if role not in ("ANON", "PXD"))
DENIED = ("403", "404", "405")

# Views that answer GET with a form and change state only on its POST: legitimately not
# 405 on GET. The reason is printed in the failure message if one goes missing.
FORM_VIEWS = {
    "login": "the agency sign-in form",
    "portal:login": "the portal sign-in form",
    "password_change": "the password change form",
    "portal:password_change": "the portal password change form",
    "portal:password_reset": "the 'forgot password' form (sends an email)",
    "portal:password_reset_confirm": "the form that sets a new password from an emailed link",
    "mfa_verify": "the two-step code form",
    "mfa_setup": "the authenticator set-up form (QR code on GET)",
    "cases:new": "the New Case form",
    "cases:edit": "the Edit case form",
    "cases:routing_rule_new": "the new routing rule form",
    "cases:routing_rule_edit": "the routing rule form",
    "admin:cases_case_change": "the admin's change form (the admin's own CSRF protection)",
}

POST_ENTRIES = [e for e in matrix.ENTRIES if e.method == "POST" and e.name not in FORM_VIEWS]
FORM_ENTRIES = [e for e in matrix.ENTRIES + matrix.ADMIN_ENTRIES if e.name in FORM_VIEWS]
READ_ENTRIES = [
    e for e in matrix.ENTRIES + matrix.ADMIN_ENTRIES if e.method == "GET" and e not in FORM_ENTRIES
]

TOTALS = {"state_changing": 0, "forms": 0, "pages": 0, "requests": 0}


def acting_role(entry: matrix.Entry) -> str:
    """A role the matrix lets perform the entry, signed-in users first. An entry nobody may
    perform (a record not shared, a tab not granted) is played by the user who sees the
    case but not the record: the check happens before any lookup all the same."""
    for role in (*SIGNED_IN, "ANON"):
        expected = entry.expect[role]
        if expected in DENIED or (role == "ANON" and "login" in expected):
            continue
        return role
    return next(role for role in SIGNED_IN if entry.expect[role] == "404")


def client_for(role: str, world, **kwargs) -> Client:
    client = Client(**kwargs)
    if role != "ANON":
        client.force_login(world.users[role])
    return client


def new_csrf_secret() -> str:
    # The form of Django's CSRF secret: 32 letters and digits (also accepted as the token).
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


def unchanged(send) -> tuple:
    """Send a request; return (response, tables it changed), the changes rolled back."""
    result = {}
    try:
        with transaction.atomic():
            before = database_state()
            result["response"] = send()
            after = database_state()
            result["changed"] = [label for label in before if before[label] != after.get(label)]
            raise _Rollback
    except _Rollback:
        pass
    TOTALS["requests"] += 1
    return result["response"], result["changed"]


class _Rollback(Exception):
    pass


def is_csrf_refusal(response) -> bool:
    return response.status_code == 403 and b"This form has expired" in response.content


def post_without_valid_token(entry, world, role) -> list[str]:
    """The three ways of posting without a valid token; what went wrong."""
    url, data = url_of(entry, world), data_of(entry, world)
    secret = new_csrf_secret()
    attempts = {
        "no cookie, no token": ({}, {}),
        "cookie, no token": ({settings.CSRF_COOKIE_NAME: secret}, {}),
        "cookie, token of another cookie": (
            {settings.CSRF_COOKIE_NAME: secret},
            {"csrfmiddlewaretoken": new_csrf_secret()},
        ),
    }
    problems = []
    for label, (cookies, token) in attempts.items():
        client = client_for(role, world, enforce_csrf_checks=True)
        for name, value in cookies.items():
            client.cookies[name] = value
        response, changed = unchanged(lambda c=client, t=token: c.post(url, {**data, **t}))
        if not is_csrf_refusal(response):
            problems.append(f"{label}: {response.status_code}, not the CSRF refusal (403)")
        if changed:
            problems.append(f"{label}: changed {changed}")
    return problems


@pytest.mark.parametrize("entry", POST_ENTRIES, ids=lambda e: e.id)
def test_a_state_changing_view_answers_get_with_405_and_changes_nothing(entry, world):
    role = acting_role(entry)
    client = client_for(role, world)
    response, changed = unchanged(lambda: client.get(url_of(entry, world)))
    TOTALS["state_changing"] += 1
    assert response.status_code == 405, f"{entry.id} as {role}: GET got {answer(response)}"
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert "POST" in allowed and "GET" not in allowed and "HEAD" not in allowed
    assert changed == []


@pytest.mark.parametrize("entry", POST_ENTRIES, ids=lambda e: e.id)
def test_a_state_changing_view_refuses_a_post_without_a_valid_csrf_token(entry, world):
    role = acting_role(entry)
    problems = post_without_valid_token(entry, world, role)
    assert problems == [], f"{entry.id} as {role}: " + "; ".join(problems)

    # The positive control: the same user, the same POST with the token, is let through.
    client = client_for(role, world, enforce_csrf_checks=True)
    secret = new_csrf_secret()
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    response = client.post(
        url_of(entry, world), {**data_of(entry, world), "csrfmiddlewaretoken": secret}
    )
    TOTALS["requests"] += 1
    assert answer(response) == entry.expect[role], f"{entry.id} as {role} with the token"


@pytest.mark.parametrize("entry", FORM_ENTRIES, ids=lambda e: e.id)
def test_a_form_view_refuses_a_post_without_a_valid_csrf_token(entry, world):
    role = acting_role(entry)
    problems = post_without_valid_token(entry, world, role)
    TOTALS["forms"] += 1
    assert problems == [], f"{entry.id} as {role}: " + "; ".join(problems)


@pytest.mark.parametrize("entry", READ_ENTRIES, ids=lambda e: e.id)
def test_a_page_not_listed_as_state_changing_changes_nothing_when_posted_to(entry, world):
    """Keeps the lists honest: a view that writes on POST must be a POST entry of the matrix
    (then it must refuse GET) or a form view of FORM_VIEWS."""
    role = acting_role(entry)
    client = client_for(role, world)
    response, changed = unchanged(lambda: client.post(url_of(entry, world)))
    TOTALS["pages"] += 1
    assert response.status_code < 500
    assert changed == [], (
        f"{entry.id} as {role}: a POST changed {changed}; make it a POST entry of the "
        "matrix, or list it in FORM_VIEWS with the reason it serves GET"
    )


def test_the_form_views_list_names_only_views_of_the_matrix():
    names = {e.name for e in matrix.ENTRIES + matrix.ADMIN_ENTRIES}
    assert sorted(set(FORM_VIEWS) - names) == []


def test_state_changing_totals(capsys):
    """Prints what this module checked (run with -s, or see the log)."""
    with capsys.disabled():
        print(
            f"\nstate-changing views: {len(POST_ENTRIES)} POST entries of the matrix "
            f"({len({e.name for e in POST_ENTRIES})} views) refuse GET and token-less POSTs; "
            f"{len(FORM_ENTRIES)} form views refuse token-less POSTs; {len(READ_ENTRIES)} "
            f"other pages change nothing on POST; this run so far: {TOTALS}"
        )
    assert len(POST_ENTRIES) >= 20
