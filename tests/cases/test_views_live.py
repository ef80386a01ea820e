"""Live oversight: the open case page polls for partner work; nothing new costs one query."""

import re

import pytest

from cases import services
from cases.models import CaseEvent
from tests.factories import make_case, make_referral

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]


def cursor_of(html: str) -> int:
    return int(re.search(r'id="live-cursor" name="after" value="(\d+)"', html).group(1))


def newest_event_id(case) -> int:
    return CaseEvent.objects.filter(case=case).order_by("-pk").first().pk


def poll(client, case, after, tab=""):
    return client.get(
        f"/cases/{case.pk}/live/",
        {"after": after, "tab": tab},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TRIGGER="live-poll",
    )


def test_the_case_page_polls_every_3_seconds_from_its_newest_event(manager_client, partner_agent):
    case, _ = make_referral(agent_user=partner_agent)
    html = manager_client.get(f"/cases/{case.pk}/").content.decode()
    assert f'hx-get="/cases/{case.pk}/live/" hx-trigger="every 3s"' in html
    assert 'hx-include="#live-cursor, #live-tab"' in html
    assert cursor_of(html) == newest_event_id(case)
    assert ">Live</span>" in html and "Recent partner activity" in html


def test_nothing_new_is_204_after_one_indexed_query(
    manager_client, partner_agent, django_assert_max_num_queries
):
    case, _ = make_referral(agent_user=partner_agent)
    after = newest_event_id(case)
    # Session, user, role (partner profile, groups) and the one event probe.
    with django_assert_max_num_queries(5):
        response = poll(manager_client, case, after)
    assert response.status_code == 204
    assert response.content == b""


def test_a_note_the_partner_adds_comes_back_out_of_band(manager_client, partner_agent):
    case, member = make_referral(agent_user=partner_agent)
    after = newest_event_id(case)
    services.referral_accept(actor=partner_agent, referral=member.referral)
    services.record_add(actor=partner_agent, case=case, kind="notes", body="Visited the family")
    response = poll(manager_client, case, after)
    html = response.content.decode()
    assert response.status_code == 200
    assert cursor_of(html) == newest_event_id(case)
    assert 'hx-swap-oob="afterbegin:#live-feed"' in html
    assert "Added a Note: Visited the family" in html and "Accepted the referral" in html
    assert html.index("Added a Note") < html.index("Accepted the referral")
    assert 'id="team-summary"' in html  # the acceptance changes the Case Team
    # ... and the header's Referral fact: no longer pending, now in progress.
    header = html[html.index('<div id="case-status"') :]
    assert "In progress" in header[: header.index("</dl>")]
    assert poll(manager_client, case, cursor_of(html)).status_code == 204


def test_the_open_notes_tab_gets_the_new_note_in_its_list(manager_client, partner_agent):
    case, _ = make_referral(agent_user=partner_agent, accepted=True)
    after = newest_event_id(case)
    note = services.record_add(actor=partner_agent, case=case, kind="notes", body="Left a card")
    html = poll(manager_client, case, after, tab="notes").content.decode()
    assert '<div id="records-list" hx-swap-oob="true">' in html
    assert re.search(r'class="cw-note cw-note--partner cw-new"', html)
    assert "Left a card" in html
    assert note.body in html
    other = poll(manager_client, case, after, tab="activities").content.decode()
    assert "records-list" not in other


def test_the_open_history_tab_gets_new_rows_on_top(manager_client, partner_agent):
    case, _ = make_referral(agent_user=partner_agent)
    after = newest_event_id(case)
    services.case_mark_seen(user=partner_agent, case=case)
    html = poll(manager_client, case, after, tab="history").content.decode()
    assert 'hx-swap-oob="afterbegin:#history-rows"' in html
    assert "Viewed by partner agent" in html


def test_a_status_change_by_someone_else_refreshes_the_header(manager_client, agency_manager):
    case = make_case()
    after = newest_event_id(case)
    services.case_transition(actor=agency_manager, case=case, name="approve")
    html = poll(manager_client, case, after).content.decode()
    assert '<div id="case-status" class="cw-case-status" hx-swap-oob="true">' in html
    assert ">Approved</span>" in html and "Refer to Third-Party" in html


def test_agency_work_advances_the_cursor_without_filling_the_partner_feed(
    manager_client, agency_manager
):
    case = make_case()
    after = newest_event_id(case)
    services.record_add(actor=agency_manager, case=case, kind="notes", body="Internal")
    html = poll(manager_client, case, after).content.decode()
    assert cursor_of(html) == newest_event_id(case)
    assert "live-feed" not in html


def test_polling_a_case_that_does_not_exist_is_404(manager_client):
    assert manager_client.get("/cases/987654/live/", {"after": 0}).status_code == 404


def test_partner_users_cannot_poll(client, partner_agent):
    case, _ = make_referral(agent_user=partner_agent)
    client.force_login(partner_agent)
    assert client.get(f"/cases/{case.pk}/live/", {"after": 0}).status_code == 403


def test_a_garbled_cursor_is_treated_as_zero(manager_client):
    case = make_case()
    response = manager_client.get(f"/cases/{case.pk}/live/", {"after": "x"})
    assert response.status_code == 200
    assert cursor_of(response.content.decode()) == newest_event_id(case)
