"""The benchmark baselines B0 and B1 exist only when the environment sets BENCH_VIEWS=1."""

import importlib

import pytest
from django.urls import clear_url_caches

import casesite.urls


def _reload_urls():
    importlib.reload(casesite.urls)
    clear_url_caches()


@pytest.fixture
def bench_views_off(monkeypatch):
    monkeypatch.delenv("BENCH_VIEWS", raising=False)
    _reload_urls()
    yield
    _reload_urls()


@pytest.fixture
def bench_views_on(monkeypatch):
    monkeypatch.setenv("BENCH_VIEWS", "1")
    _reload_urls()
    yield
    monkeypatch.delenv("BENCH_VIEWS")
    _reload_urls()


def test_b0_and_b1_are_not_found_without_bench_views(bench_views_off, client, partner_agent):
    assert client.get("/bench/b0/").status_code == 404
    client.force_login(partner_agent)
    assert client.get("/bench/b0/").status_code == 404
    assert client.get("/portal/bench/b1/").status_code == 404


def test_b0_answers_anybody_with_bench_views(bench_views_on, client):
    response = client.get("/bench/b0/")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_b1_is_an_empty_portal_page_for_a_signed_in_partner(bench_views_on, client, partner_agent):
    client.force_login(partner_agent)
    response = client.get("/portal/bench/b1/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Partner Portal" in html
    assert "My Cases" in html  # the portal navigation of the real layout


def test_b1_sends_anonymous_visitors_to_the_portal_sign_in(bench_views_on, client):
    response = client.get("/portal/bench/b1/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/")


def test_b1_refuses_agency_staff(bench_views_on, client, caseworker):
    client.force_login(caseworker)
    assert client.get("/portal/bench/b1/").status_code == 403


def test_bench_views_answer_not_found_once_the_switch_is_off_again(
    bench_views_on, client, partner_agent, monkeypatch
):
    monkeypatch.setenv("BENCH_VIEWS", "0")
    assert client.get("/bench/b0/").status_code == 404
    client.force_login(partner_agent)
    assert client.get("/portal/bench/b1/").status_code == 404
