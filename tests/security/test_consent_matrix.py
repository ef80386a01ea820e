"""SECURITY.md case 29: consent opens and closes the door.

The access matrix again, for every Partner Portal URL pattern of PA's organization's cases
(A, B, D and the intake referral of F) and the downloads, with the organization's legal
basis in each state a real agency meets:

  no_consent         memberships and object permissions from before consents existed
                     (the state the migration leaves them in), no consent at all
  expired            the consents ran out; the periodic job has not run
  revoked            the client withdrew every consent
  narrower           a consent that covers the details and Notes only, while the Case
                     Team ticks every tab
  emergency          no consent, but an agency manager's emergency access (break-glass)
  emergency_lapsed   that emergency access after its 72 hours; the job has not run

Each cell checks the answer, that no sentinel hidden in that state appears in the body or
headers, and that a denial changed nothing and wrote one audit event (as the matrix does).
A substance-use note of case A, shared with partners, is the sentinel of the Part 2
category: no basis here covers it, so nobody outside the agency ever sees it.
"""

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from cases import services
from cases.models import CaseTeamMember, CaseUserObjectPermission, Consent, EmergencyAccess
from casesite import clock
from partners.models import PartnerOrganization

from . import matrix
from .test_access_matrix import check_cell, url_of
from .test_access_matrix import clients as clients  # fixtures
from .test_access_matrix import fast_password_hashing as fast_password_hashing
from .test_access_matrix import (
    no_routing_or_mail_side_effects as no_routing_or_mail_side_effects,
)
from .test_access_matrix import private_storage as private_storage
from .test_access_matrix import world as world
from .world import SHARED_A

PART_2 = "SENTINEL-PART2-A"
CLOSED = ("no_consent", "expired", "revoked", "emergency_lapsed")
STATES = (*CLOSED, "narrower", "emergency")
# What each tab of A shows (SHARED_A by record kind).
TAB_STRINGS = {
    "notes": ("SHARED-NOTE-A",),
    "activities": ("SHARED-ACT-A",),
    "servicerequests": ("SHARED-SR-A",),
    "attachments": ("SHARED-ATT-A", "shared-a", "SHARED-FILE-A"),
}
NORTHSIDE_CASES = ("A", "B", "D", "F")
# Matrix rows of the portal that concern a case of PA's organization.
CASE_ENTRIES = tuple(
    entry
    for entry in matrix.ENTRIES
    if entry.name.startswith("portal:")
    and (entry.kwargs.get("pk") in NORTHSIDE_CASES or entry.kwargs.get("referral_pk"))
)
LISTS = tuple(e for e in matrix.ENTRIES if e.name in ("portal:my_cases", "portal:intake"))


def _tab_of(entry: matrix.Entry) -> str:
    tab = entry.kwargs.get("tab", "")
    if tab.startswith("="):
        return tab[1:]
    if entry.name == "portal:attachment_download":
        return "attachments"
    if entry.name == "portal:service_request_status":
        return "servicerequests"
    return ""


def expected(entry: matrix.Entry, state: str) -> dict:
    """The matrix's answers, with PA's and PM's where the state takes them away."""
    expect = dict(entry.expect)
    closed = state in CLOSED or (
        state == "narrower" and _tab_of(entry) in ("activities", "attachments", "servicerequests")
    )
    if closed and entry in CASE_ENTRIES:
        expect["PA"] = expect["PM"] = "404"
    return expect


class StateWorld:
    """The seeded world, with the sentinels each state hides from PA and PM."""

    def __init__(self, world, state: str, entry: matrix.Entry):
        self._world, self.state, self.entry = world, state, entry
        self.ids, self.cases, self.users = world.ids, world.cases, world.users

    def sentinels_hidden_from(self, role: str) -> tuple[str, ...]:
        hidden = self._world.sentinels_hidden_from(role)
        if role in ("AG", "AM", "ADM"):
            return hidden
        hidden += (PART_2,)
        if role in ("PA", "PM"):
            if self.state in CLOSED:
                # The notice on My Cases names the case number, nothing else of it.
                hidden += SHARED_A
            elif self.state == "narrower":
                hidden += (*TAB_STRINGS["activities"], *TAB_STRINGS["servicerequests"],
                           *TAB_STRINGS["attachments"])  # fmt: skip
        return hidden


def _northside_members():
    return CaseTeamMember.objects.filter(
        role=CaseTeamMember.Role.PARTNER_AGENT, organization__name="Northside Legal Aid"
    )


def _put_in_state(world, state: str):
    """Change the world into `state`; returns the clock the requests run at."""
    am = world.users["AM"]
    case_a = world.cases["A"]
    services.record_add(
        actor=world.users["AG"],
        case=case_a,
        kind="notes",
        shared_with_partners=True,
        substance_use=True,
        body=PART_2,
    )
    northside = [world.cases[key] for key in NORTHSIDE_CASES]
    consents = Consent.objects.filter(case__in=northside, organization_id=world.ids["northside"])
    if state == "expired":
        return clock.now() + timedelta(days=367)  # a year's consents ended yesterday
    if state == "revoked":
        for consent in consents:
            services.consent_revoke(actor=am, consent=consent, reason="The client withdrew it")
    elif state == "narrower":
        for consent in consents:
            services.consent_record(
                actor=am,
                case=consent.case,
                organization=consent.organization,
                purpose="Notes only from now on",
                data=["details", "notes"],
                starts_on=consent.starts_on,
                ends_on=consent.ends_on,
                method=Consent.Method.ELECTRONIC,
                supersedes=consent,
            )
    elif state in ("no_consent", "emergency", "emergency_lapsed"):
        # Before consents existed: no consent row, and no copy of a basis on the rows.
        consents.delete()
        _northside_members().update(access_until=None, access_end="")
        if state != "no_consent":
            organization = PartnerOrganization.objects.get(pk=world.ids["northside"])
            for case in northside:
                services.emergency_access_grant(
                    actor=am, case=case, organization=organization, reason="Hearing tomorrow"
                )
            assert EmergencyAccess.objects.count() == len(northside)
        if state == "emergency_lapsed":
            return clock.now() + timedelta(hours=EmergencyAccess.DEFAULT_HOURS, minutes=1)
    return clock.now()


@pytest.mark.parametrize("state", STATES)
def test_every_portal_url_of_the_case_answers_as_the_consent_allows(state, world, clients):
    at = _put_in_state(world, state)
    problems = []
    with clock.on(lambda: at):
        for entry in (*CASE_ENTRIES, *LISTS):
            entry_now = replace(entry, expect=expected(entry, state))
            for role in matrix.ROLES:
                problems += [
                    f"{entry.id} {url_of(entry, world)} {p}"
                    for p in check_cell(
                        entry_now, role, clients[role], StateWorld(world, state, entry)
                    )
                ]
    assert problems == []


@pytest.mark.parametrize("state", CLOSED)
def test_a_closed_case_leaves_my_cases_and_the_live_probe_at_once(state, world, clients):
    """My Cases lists no case of PA's organization and its live probe sees the change; the
    partner's only trace of the case is the notice (when access ended, not never was)."""
    before = clients["PA"].get("/portal/").content.decode()
    assert world.cases["A"].number in before
    version = re.search(r"v=(\d+-\d+)", before).group(1)
    unchanged = clients["PA"].get(f"/portal/?v={version}", headers={"HX-Request": "true"})
    assert unchanged.status_code == 204
    at = _put_in_state(world, state)
    with clock.on(lambda: at):
        page = clients["PA"].get("/portal/").content.decode()
        probe = clients["PA"].get(f"/portal/?v={version}", headers={"HX-Request": "true"})
    for key in ("A", "B", "D"):
        assert f"/portal/cases/{world.cases[key].pk}/" not in page, key
    assert "SENTINEL-NAME-A" not in page
    assert probe.status_code == 200  # the version changed: the list is drawn again
    if state == "no_consent":
        assert "Access to" not in page
    else:
        why = {
            "expired": "consent expired",
            "revoked": "consent withdrawn",
            "emergency_lapsed": "emergency access ended",
        }[state]
        assert f"Access to {world.cases['A'].number} ended on" in page
        assert why in page


def test_the_periodic_job_takes_the_grants_of_lapsed_access_away(world):
    """Requests never wait for it, but the job brings the permissions table in line: the
    referral is withdrawn, the agents leave the team, the owner sees why."""
    at = _put_in_state(world, "expired")
    with clock.on(lambda: at):
        ended = services.access_end_lapsed()
    expired = CaseTeamMember.objects.filter(access_end="expired")
    assert ended == expired.count() == 5  # A (PA, PXD), B, D; C of the other organization
    assert not _northside_members().filter(is_active=True).exists()
    case_a = world.cases["A"]
    assert case_a.events.filter(verb="access_ended").exists()
    assert not CaseUserObjectPermission.objects.filter(
        user=world.users["PA"], content_object=case_a
    ).exists()
