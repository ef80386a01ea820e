"""Accepting, declining and reassigning a referral in the portal."""

import pytest
from django.urls import reverse

from cases import services
from cases.models import CaseEvent, CaseTeamMember, Referral
from tests.factories import PartnerAgentFactory, UserFactory, record_consent

from .conftest import refer

pytestmark = pytest.mark.django_db

State = Referral.State


def url(name, case):
    return reverse(f"portal:{name}", args=[case.pk])


def state_of(member):
    """The member's referral state (its own row and the team row's copy must agree) and
    whether the member is still on the team."""
    member.refresh_from_db()
    referral = Referral.objects.get(pk=member.referral_id)
    assert member.referral_state == referral.state
    return referral.state, member.is_active


def test_accepting_a_pending_referral(client, partner_agent):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.post(url("accept", case), follow=True)
    assert response.redirect_chain == [(url("case", case), 302)]
    assert f"You accepted {case.number}" in response.content.decode()
    assert "Your referral: Accepted" in response.content.decode()
    assert state_of(member) == (State.ACCEPTED, True)
    assert case.events.filter(verb=CaseEvent.Verb.ACCEPTED, actor=partner_agent).count() == 1


@pytest.mark.parametrize("second", ["accept", "decline"])
def test_a_second_answer_is_a_409_that_names_the_change(client, partner_agent, second):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    client.post(url("accept", case))
    events = case.events.count()
    response = client.post(url(second, case), {"reason": "no_capacity"})
    assert response.status_code == 409
    html = response.content.decode()
    assert "Changed by someone else" in html
    assert "changed by someone else: it is now Accepted" in html
    assert state_of(member) == (State.ACCEPTED, True)
    assert case.events.count() == events


def test_an_answer_after_the_agency_withdrew_the_referral_finds_no_case(
    client, partner_agent, agency_manager
):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    services.case_team_remove(actor=agency_manager, case=case, user=partner_agent)
    assert client.post(url("accept", case)).status_code == 404
    assert state_of(member) == (State.WITHDRAWN, False)


@pytest.mark.parametrize("name", ["accept", "decline", "reassign"])
def test_answers_refuse_get(client, partner_agent, partner_manager, name):
    case, member = refer(partner_agent)
    client.force_login(partner_manager if name == "reassign" else partner_agent)
    assert client.get(url(name, case)).status_code == 405
    assert state_of(member) == (State.PENDING, True)


def test_declining_needs_a_reason(client, partner_agent):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.post(url("decline", case), {"note": "Busy"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "This field is required." in html
    assert '<details class="cwp-decline" open>' in html
    assert state_of(member) == (State.PENDING, True)


def test_declining_for_another_reason_needs_an_explanation(client, partner_agent):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.post(url("decline", case), {"reason": "other", "note": " "})
    assert response.status_code == 400
    assert "Say why you decline this case." in response.content.decode()
    assert state_of(member) == (State.PENDING, True)


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("no_capacity", "No capacity"),
        ("conflict", "Conflict of interest"),
        ("out_of_area", "Out of service area"),
        ("not_eligible", "Not eligible"),
        ("other", "Other"),
    ],
)
def test_declining_takes_the_case_off_my_cases(client, partner_agent, reason, label):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.post(
        url("decline", case), {"reason": reason, "note": "Moving offices"}, follow=True
    )
    assert response.redirect_chain == [(reverse("portal:my_cases"), 302)]
    html = response.content.decode()
    assert f"You declined {case.number}. It has left My Cases." in html
    assert f">{case.number}<" not in html
    assert state_of(member) == (State.DECLINED, False)
    referral = Referral.objects.get(pk=member.referral_id)
    assert (referral.reason, referral.reason_note, referral.get_reason_display()) == (
        reason,
        "Moving offices",
        label,
    )
    assert referral.responded_at is not None
    assert case.events.get(verb=CaseEvent.Verb.DECLINED).data["reason"] == label
    assert client.get(url("case", case)).status_code == 404


def test_the_decline_form_offers_every_reason(client, partner_agent):
    case, _ = refer(partner_agent)
    client.force_login(partner_agent)
    html = client.get(url("case", case)).content.decode()
    for value in Referral.DeclineReason.values:
        assert f'value="{value}"' in html


def test_only_the_referred_agent_answers(
    client, partner_agent, partner_colleague, outsider, partner_manager, caseworker
):
    case, member = refer(partner_agent)
    for user, status in (
        (partner_colleague, 404),
        (outsider, 404),
        (partner_manager, 403),  # sees the case, is not the one it is referred to
        (caseworker, 403),  # agency staff have no portal
    ):
        client.force_login(user)
        for name in ("accept", "decline"):
            assert client.post(url(name, case), {"reason": "conflict"}).status_code == status
    assert state_of(member) == (State.PENDING, True)
    client.logout()
    assert client.post(url("accept", case))["Location"].startswith("/portal/login/")


def test_a_partner_manager_reassigns_within_the_organization(
    client, partner_agent, partner_colleague, partner_manager
):
    case, member = refer(partner_agent, tabs=["notes", "attachments"])
    client.force_login(partner_manager)
    response = client.post(
        url("reassign", case), {"member": member.pk, "to_user": partner_colleague.pk}, follow=True
    )
    assert response.redirect_chain == [(url("case", case), 302)]
    assert f"now assigned to {partner_colleague.get_full_name()}" in response.content.decode()
    assert state_of(member) == (State.WITHDRAWN, False)
    new = CaseTeamMember.objects.get(case=case, user=partner_colleague)
    assert (new.referral_state, new.is_active, new.seen_at, new.tabs) == (
        State.PENDING,
        True,
        None,
        ["notes", "attachments"],
    )
    old = Referral.objects.get(pk=member.referral_id)
    assert old.reason == Referral.WithdrawReason.REASSIGNED
    assert (new.referral.replaces, new.referral.agent, new.referral.due_at) == (
        old,
        partner_colleague,
        old.due_at,
    )
    assert case.events.filter(verb=CaseEvent.Verb.REASSIGNED, actor=partner_manager).exists()
    client.force_login(partner_agent)
    assert client.get(url("case", case)).status_code == 404
    client.force_login(partner_colleague)
    assert client.get(url("case", case)).status_code == 200


def test_a_partner_manager_cannot_reassign_outside_the_organization(
    client, partner_agent, outsider, partner_manager
):
    case, member = refer(partner_agent)
    client.force_login(partner_manager)
    response = client.post(url("reassign", case), {"member": member.pk, "to_user": outsider.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert state_of(member) == (State.PENDING, True)
    assert not CaseTeamMember.objects.filter(user=outsider).exists()


def test_a_partner_manager_cannot_move_another_organizations_assignment(
    client, partner_agent, partner_colleague, partner_manager, outsider, agency_manager
):
    case, _ = refer(partner_agent)
    record_consent(case, outsider.partner_agent.organization, actor=agency_manager)
    theirs = services.case_team_add(actor=agency_manager, case=case, user=outsider)
    client.force_login(partner_manager)
    response = client.post(
        url("reassign", case), {"member": theirs.pk, "to_user": partner_colleague.pk}
    )
    assert response.status_code == 404
    assert state_of(theirs) == (State.PENDING, True)


def test_another_organizations_manager_finds_no_case(client, partner_agent, harbor):
    case, member = refer(partner_agent)
    harbor_manager = PartnerAgentFactory(
        user=UserFactory(username="hm"), organization=harbor, role="manager"
    ).user
    client.force_login(harbor_manager)
    response = client.post(url("reassign", case), {"member": member.pk, "to_user": 1})
    assert response.status_code == 404
    assert state_of(member) == (State.PENDING, True)


def test_agents_may_not_reassign(client, partner_agent, partner_colleague):
    case, member = refer(partner_agent)
    client.force_login(partner_agent)
    response = client.post(
        url("reassign", case), {"member": member.pk, "to_user": partner_colleague.pk}
    )
    assert response.status_code == 403
    assert state_of(member) == (State.PENDING, True)
