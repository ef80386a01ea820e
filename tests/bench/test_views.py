"""The benchmark baselines B0 and B1 exist only on the benchmark's settings (bench.settings),
which install the bench app and route its pages in front of the site's."""

import importlib

import pytest
from django.apps import apps
from django.core.management import get_commands
from django.test import override_settings

on_bench_urls = override_settings(ROOT_URLCONF="bench.urls")


def test_the_site_has_no_bench_pages_and_no_bench_commands(client, partner_agent):
    assert not apps.is_installed("bench")
    assert not {"seed_bench", "bench_routing"} & set(get_commands())
    assert client.get("/bench/b0/").status_code == 404
    client.force_login(partner_agent)
    assert client.get("/bench/b0/").status_code == 404
    assert client.get("/portal/bench/b1/").status_code == 404


def test_the_bench_settings_install_the_bench_app_and_its_pages(monkeypatch):
    monkeypatch.setenv("BENCH_MY_CASES", "orm")
    bench_settings = importlib.import_module("bench.settings")
    bench_settings = importlib.reload(bench_settings)
    assert "bench" in bench_settings.INSTALLED_APPS
    assert bench_settings.ROOT_URLCONF == "bench.urls"
    assert bench_settings.MY_CASES_COMPILED_SQL is False
    monkeypatch.delenv("BENCH_MY_CASES")
    assert importlib.reload(bench_settings).MY_CASES_COMPILED_SQL is True


@on_bench_urls
def test_b0_answers_anybody(client):
    response = client.get("/bench/b0/")
    assert response.status_code == 200
    assert response.content == b"ok"


@on_bench_urls
@pytest.mark.django_db
def test_b1_is_an_empty_portal_page_for_a_signed_in_partner(client, partner_agent):
    client.force_login(partner_agent)
    response = client.get("/portal/bench/b1/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Partner Portal" in html
    assert "My Cases" in html  # the portal navigation of the real layout


@on_bench_urls
@pytest.mark.django_db
def test_b1_sends_anonymous_visitors_to_the_portal_sign_in(client):
    response = client.get("/portal/bench/b1/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/")


@on_bench_urls
@pytest.mark.django_db
def test_b1_refuses_agency_staff(client, caseworker):
    client.force_login(caseworker)
    assert client.get("/portal/bench/b1/").status_code == 403


@on_bench_urls
@pytest.mark.django_db
def test_the_site_is_whole_behind_the_bench_pages(client, partner_agent):
    client.force_login(partner_agent)
    assert client.get("/portal/").status_code == 200
