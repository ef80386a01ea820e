"""Deny by default: every URL pattern walked as anonymous, partner and agency users."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Reachable without signing in, on purpose.
PUBLIC = {
    "healthz",
    "login",
    "portal:login",
    "portal:password_reset",
    "portal:password_reset_done",
    "portal:password_reset_confirm",
    "portal:password_reset_complete",
}
SAMPLE_KWARGS = {"pk": 1, "case_pk": 1, "uidb64": "MQ", "token": "set-password", "path": "x"}


def _walk(resolver, prefix="", namespace=None):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns == "admin":
                continue  # the admin has its own sign-in; tested separately
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield name, prefix + str(entry.pattern)


def _url_for(route: str) -> str:
    """Fill a route's converters with sample values, the way a visitor would guess ids."""
    import re

    def fill(match):
        name = match.group(1).rpartition(":")[2]
        value = SAMPLE_KWARGS.get(name, 1)
        return str(value)

    return "/" + re.sub(r"<([^>]+)>", fill, route).lstrip("^").rstrip("$")


ALL_URLS = sorted(set(_walk(get_resolver())))


def test_the_url_walk_finds_both_workspaces():
    names = {name for name, _ in ALL_URLS}
    assert {"home", "cases:list", "portal:my_cases", "login", "portal:login"} <= names


@pytest.mark.parametrize(("name", "route"), ALL_URLS)
def test_anonymous_visitors_are_sent_to_sign_in_from_every_private_url(db, client, name, route):
    response = client.get(_url_for(route))
    if name in PUBLIC:
        assert response.status_code in (200, 302, 405)
        if response.status_code == 302:
            assert "/login/" not in response["Location"] or name.endswith("complete")
        return
    assert response.status_code == 302, f"{name} answered {response.status_code}"
    expected = "/portal/login/" if route.startswith("portal/") else "/login/"
    assert response["Location"].startswith(expected + "?next=")


AGENCY_ROUTES = [(name, route) for name, route in ALL_URLS if name.startswith("cases:")]


@pytest.mark.parametrize(("name", "route"), AGENCY_ROUTES)
def test_partner_users_never_get_an_agency_page(client, partner_agent, name, route):
    client.force_login(partner_agent)
    response = client.get(_url_for(route))
    assert response.status_code in (403, 404)
    assert b"Cases List" not in response.content


def test_partner_users_are_sent_from_the_start_page_to_my_cases(client, partner_agent):
    client.force_login(partner_agent)
    assert client.get("/")["Location"] == "/portal/"


def test_agency_users_are_sent_from_the_start_page_to_the_cases_list(client, caseworker):
    client.force_login(caseworker)
    assert client.get("/")["Location"] == "/cases/"


def test_agency_users_have_no_partner_portal(client, caseworker):
    client.force_login(caseworker)
    assert client.get("/portal/").status_code == 403


def test_an_account_without_a_role_gets_no_workspace(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 16))
    assert client.get("/").status_code == 403
    assert client.get("/cases/").status_code == 403
    assert client.get("/portal/").status_code == 403


def test_partner_users_do_not_get_into_the_admin(client, partner_agent):
    client.force_login(partner_agent)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
