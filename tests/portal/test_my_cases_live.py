"""My Cases refreshes itself: the unfiltered list polls a probe that answers 204 from one
small query while nothing changed, and the refreshed list when a case came or went."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import services

from .conftest import TRANSACTION_CONTROL, refer

HTMX = {"HX-Request": "true"}


def live_url(html: str) -> str:
    match = re.search(r'id="my-cases-live"[^>]*hx-get="([^"]+)"', html)
    assert match, "the unfiltered My Cases polls itself"
    return match.group(1).replace("&amp;", "&")


def test_the_probe_answers_204_while_nothing_changed_in_one_query(client, partner_agent):
    refer(partner_agent, name="Okafor household")
    client.force_login(partner_agent)
    url = live_url(client.get("/portal/").content.decode())
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=HTMX)
    assert response.status_code == 204 and response.content == b""
    statements = [
        q["sql"] for q in captured.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])
    ]
    # The session and the user (sign-in), the partner agent, then the probe's one aggregate.
    assert len([s for s in statements if "cases_caseteammember" in s]) == 1
    assert len(statements) <= 4


def test_a_new_referral_comes_back_with_the_list_and_the_new_count(
    client, partner_agent, agency_manager
):
    refer(partner_agent, name="Okafor household")
    client.force_login(partner_agent)
    url = live_url(client.get("/portal/").content.decode())
    refer(partner_agent, name="Nguyen household")
    response = client.get(url, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nguyen household" in html and 'id="nav-my-cases"' in html
    assert "2 new cases" in html
    # The refreshed list carries its new version: polled again, nothing changed.
    assert client.get(live_url(html), headers=HTMX).status_code == 204


def test_a_case_closed_by_the_agency_leaves_on_the_next_poll(client, partner_agent, agency_manager):
    case, _ = refer(partner_agent, name="Okafor household")
    refer(partner_agent, name="Nguyen household")
    client.force_login(partner_agent)
    url = live_url(client.get("/portal/").content.decode())
    services.case_transition(actor=agency_manager, case=case, name="close")
    html = client.get(url, headers=HTMX).content.decode()
    assert "Okafor household" not in html and "Nguyen household" in html


def test_a_filtered_list_does_not_poll_and_a_plain_request_ignores_the_version(
    client, partner_agent
):
    refer(partner_agent, name="Okafor household")
    client.force_login(partner_agent)
    assert (
        "hx-get"
        not in client.get("/portal/?q=Okafor")
        .content.decode()
        .split('id="my-cases-live"')[1]
        .split(">")[0]
    )
    # Without htmx a stale version is no reason to answer 204: the page is served.
    response = client.get("/portal/?v=1-1")
    assert response.status_code == 200 and "Okafor household" in response.content.decode()
