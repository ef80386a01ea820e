"""The read side: partner selectors agree with guardian's object permissions for a generated
population, internal records never come out of them, and a case you may not see is 404."""

import random
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.http import Http404
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from accounts.roles import Role
from cases import selectors, services
from cases.models import Case, CaseTeamMember, CaseUserObjectPermission, Referral
from partners.models import PartnerAgent
from tests.factories import (
    PartnerAgentFactory,
    PartnerOrganizationFactory,
    ProgramFactory,
    UserFactory,
    make_case,
    make_referral,
    record_consent,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("fast_password_hashing", "services_without_routing"),
]

State = Referral.State
# Later than any response window of a referral made today: every pending one is overdue.
FAR_FUTURE = timezone.now() + timedelta(days=365)
KINDS = ("activities", "attachments", "servicerequests", "notes")
ALL_TABS = list(KINDS)


def guardian_cases(user) -> set[int]:
    """The oracle: what guardian says the user may view (never used by the product to list)."""
    return set(
        get_objects_for_user(
            user, "cases.view_case", klass=Case, accept_global_perms=False
        ).values_list("pk", flat=True)
    )


def selector_cases(user) -> set[int]:
    return set(selectors.cases_for_partner_agent(user=user).values_list("pk", flat=True))


# Selectors and guardian agree for a generated population ----------------------------------


class Population:
    """3 organizations, 8 partner users (3 of them partner managers), 40 Third-Party cases,
    and a few hundred random case team changes made through the services."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.actor = UserFactory(username="pop-manager", roles=[Role.AGENCY_MANAGER])
        orgs = [
            PartnerOrganizationFactory(name=name, default_tabs=tabs)
            for name, tabs in [
                ("Org North", ALL_TABS),
                ("Org Harbor", ["activities", "notes"]),
                ("Org County", ["servicerequests"]),
            ]
        ]
        layout = [
            (orgs[0], ["n-agent-1", "n-agent-2"], "n-manager"),
            (orgs[1], ["h-agent-1", "h-agent-2"], "h-manager"),
            (orgs[2], ["c-agent-1"], "c-manager"),
        ]
        self.agents: list = []
        self.managers: list = []
        for org, agents, manager in layout:
            for username in agents:
                self.agents.append(
                    PartnerAgentFactory(user=UserFactory(username=username), organization=org).user
                )
            self.managers.append(
                PartnerAgentFactory(
                    user=UserFactory(username=manager),
                    organization=org,
                    role=PartnerAgent.Role.MANAGER,
                ).user
            )
        program = ProgramFactory(code="SNAP")
        self.cases = [
            make_case(status=Case.Status.THIRD_PARTY, actor=self.actor, program=program)
            for _ in range(40)
        ]
        # The client's consent covers every organization: the changes are the team's own.
        for case in self.cases:
            for org in orgs:
                record_consent(case, org, actor=self.actor)
        self.operations = 0

    @property
    def partner_users(self):
        return self.agents + self.managers

    def active(self, **filters):
        return list(
            CaseTeamMember.objects.filter(
                role=CaseTeamMember.Role.PARTNER_AGENT, is_active=True, **filters
            ).select_related("case", "user", "organization")
        )

    def step(self) -> None:
        """One random change, skipped when it does not apply to what it picked."""
        rng = self.rng
        action = rng.choice(
            ["add"] * 5
            + ["remove", "remove", "decline", "accept", "expire", "complete", "reassign", "recall"]
        )
        case = Case.objects.get(pk=rng.choice(self.cases).pk)
        members = self.active(case=case)
        pending = [m for m in members if m.referral_state == State.PENDING]
        if action == "add":
            user = rng.choice(self.partner_users)  # managers may work cases themselves
            if case.status != Case.Status.THIRD_PARTY or any(m.user == user for m in members):
                return
            tabs = rng.choice([None, None, [], ["notes"], ["activities", "attachments"]])
            services.case_team_add(actor=self.actor, case=case, user=user, tabs=tabs)
        elif action == "remove" and members:
            member = rng.choice(members)
            services.case_team_remove(actor=self.actor, case=case, user=member.user)
        elif action == "decline" and pending:
            member = rng.choice(pending)
            services.referral_decline(
                actor=member.user, referral=member.referral, reason="no_capacity"
            )
        elif action == "accept" and pending:
            member = rng.choice(pending)
            services.referral_accept(actor=member.user, referral=member.referral)
        elif action == "expire" and pending:
            # Past any response window: the referral is overdue, so it expires.
            services.referral_expire(referral=rng.choice(pending).referral, now=FAR_FUTURE)
        elif action == "complete":
            accepted = [m for m in members if m.referral_state == State.ACCEPTED]
            if not accepted:
                return
            member = rng.choice(accepted)
            services.referral_complete(
                actor=member.user,
                referral=member.referral,
                outcome=Referral.Outcome.SERVED,
                note="Helped with the application",
            )
        elif action == "reassign":
            open_ = [m for m in members if m.referral_state in Referral.OPEN_STATES]
            if not open_:
                return
            member = rng.choice(open_)
            manager = next(
                u
                for u in self.managers
                if u.partner_agent.organization_id == member.organization_id
            )
            on_case = {m.user_id for m in members}
            targets = [
                u
                for u in self.partner_users
                if u.partner_agent.organization_id == member.organization_id and u.pk not in on_case
            ]
            if not targets:
                return
            services.referral_reassign(
                actor=manager, referral=member.referral, to_user=rng.choice(targets)
            )
        elif action == "recall" and case.status == Case.Status.THIRD_PARTY:
            services.case_transition(actor=self.actor, case=case, name="recall")
            services.case_transition(actor=self.actor, case=case, name="refer")
        else:
            return
        self.operations += 1


def assert_selectors_agree_with_guardian(population: Population) -> None:
    for user in population.partner_users:
        listed = selector_cases(user)
        assert listed == guardian_cases(user), user.username
        agent = user.partner_agent
        rows = selectors.memberships_for_partner(user=user)
        assert {m.case_id for m in rows} == listed, user.username
        if agent.is_manager:
            assert all(m.organization_id == agent.organization_id for m in rows)
        else:
            assert all(m.user_id == user.pk for m in rows)
            # The tabs guardian grants are the tabs chosen for the member.
            for member in rows:
                # The case as the portal reads it (with the client's consent).
                case, checker = selectors.partner_case_or_404(user=user, pk=member.case_id)
                shown = {
                    t.slug for t in selectors.visible_tabs(user=user, case=case, checker=checker)
                }
                assert shown == set(member.tabs), (user.username, member.case_id)
    assert selector_cases(population.actor) == guardian_cases(population.actor) == set()


def test_the_partner_selector_and_guardian_agree_for_every_user_of_a_generated_population():
    population = Population(seed=2026)
    for _ in range(5):
        for _ in range(40):
            population.step()
        assert_selectors_agree_with_guardian(population)
    # The population really exercised the team changes it claims to.
    states = set(CaseTeamMember.objects.values_list("referral_state", flat=True))
    assert {
        State.PENDING,
        State.ACCEPTED,
        State.DECLINED,
        State.WITHDRAWN,
    } <= states
    assert population.operations > 100
    assert any(selector_cases(user) for user in population.managers)
    assert CaseTeamMember.objects.filter(is_active=False, role="partner_agent").exists()


def test_the_selector_never_lists_a_case_whose_permissions_were_revoked_behind_its_back(
    partner_agent,
):
    """`partner_case_or_404` asks both: team membership and guardian's view_case."""
    case, _ = make_referral(agent_user=partner_agent)
    assert selectors.partner_case_or_404(user=partner_agent, pk=case.pk)[0] == case
    CaseUserObjectPermission.objects.filter(user=partner_agent).delete()
    with pytest.raises(Http404):
        selectors.partner_case_or_404(user=partner_agent, pk=case.pk)


# One case: 404 when not yours --------------------------------------------------------------


def test_a_case_that_is_not_yours_is_404_like_one_that_does_not_exist(
    partner_agent, partner_colleague, outsider, partner_manager, agency_manager
):
    case, _ = make_referral(agent_user=partner_agent)
    other = make_case(status=Case.Status.THIRD_PARTY)
    found, checker = selectors.partner_case_or_404(user=partner_agent, pk=case.pk)
    assert found == case and checker.has_perm("view_case", case)
    assert selectors.partner_case_or_404(user=partner_manager, pk=case.pk)[0] == case
    for user, pk in [
        (partner_agent, other.pk),
        (partner_agent, 10**9),
        (partner_colleague, case.pk),
        (outsider, case.pk),
        (agency_manager, case.pk),  # agency staff use the agency selectors, not the portal
    ]:
        with pytest.raises(Http404):
            selectors.partner_case_or_404(user=user, pk=pk)


def test_an_inactive_partner_user_sees_nothing(partner_agent):
    make_referral(agent_user=partner_agent)
    partner_agent.is_active = False
    partner_agent.save()
    assert not selectors.cases_for_partner_agent(user=partner_agent).exists()
    assert not selectors.memberships_for_partner(user=partner_agent).exists()


def test_my_cases_lists_the_newest_assignment_first(agency_manager, partner_agent):
    first, _ = make_referral(agent_user=partner_agent)
    second, _ = make_referral(agent_user=partner_agent)
    third = make_case(status=Case.Status.THIRD_PARTY)
    record_consent(third, partner_agent.partner_agent.organization)
    services.case_team_add(actor=agency_manager, case=third, user=partner_agent)
    rows = list(selectors.memberships_for_partner(user=partner_agent))
    assert [m.case for m in rows] == [third, second, first]
    services.case_team_remove(actor=agency_manager, case=second, user=partner_agent)
    assert [m.case for m in selectors.memberships_for_partner(user=partner_agent)] == [third, first]


def test_a_tab_not_granted_is_404(partner_agent):
    case, _ = make_referral(agent_user=partner_agent, tabs=["notes"])
    case, checker = selectors.partner_case_or_404(user=partner_agent, pk=case.pk)
    assert selectors.partner_tab_or_404(
        user=partner_agent, case=case, tab="notes", checker=checker
    ).label == ("Notes")
    for tab in ("activities", "attachments", "servicerequests", "events", ""):
        with pytest.raises(Http404):
            selectors.partner_tab_or_404(user=partner_agent, case=case, tab=tab, checker=checker)


# Internal records never come out of a partner selector -------------------------------------

SENTINEL = "SENTINEL-INTERNAL-7f3a"


def test_internal_records_never_come_out_of_the_partner_selectors(
    caseworker, partner_agent, private_storage
):
    case, _ = make_referral(agent_user=partner_agent, tabs=ALL_TABS, accepted=True)
    internal, shared = {}, {}
    for flag, store, label in ((False, internal, SENTINEL), (True, shared, "Shared")):
        store["notes"] = services.record_add(
            actor=caseworker,
            case=case,
            kind="notes",
            body=f"{label} note",
            shared_with_partners=flag,
        )
        store["activities"] = services.record_add(
            actor=caseworker,
            case=case,
            kind="activities",
            subject=f"{label} call",
            description=f"{label} details",
            shared_with_partners=flag,
        )
        store["servicerequests"] = services.record_add(
            actor=caseworker,
            case=case,
            kind="servicerequests",
            title=f"{label} request",
            description=f"{label} details",
            shared_with_partners=flag,
        )
        store["attachments"] = services.attachment_add(
            actor=caseworker, case=case, description=f"{label} file",
            upload=ContentFile(f"{label} letter".encode(), name=f"{label} letter.txt"),
            shared_with_partners=flag,
        )  # fmt: skip
    partner_note = services.record_add(
        actor=partner_agent, case=case, kind="notes", body="Partner note"
    )
    # The partner selectors read the case as the portal reads it (with the client's consent).
    case, _ = selectors.partner_case_or_404(user=partner_agent, pk=case.pk)
    for kind in KINDS:
        records = list(selectors.records_for_partner(user=partner_agent, case=case, kind=kind))
        assert shared[kind] in records
        assert internal[kind] not in records
        assert all(record.shared_with_partners for record in records)
        dumped = repr([vars(record) for record in records])
        assert SENTINEL not in dumped
        with pytest.raises(Http404):
            selectors.partner_record_or_404(
                user=partner_agent, case=case, kind=kind, pk=internal[kind].pk
            )
        assert (
            selectors.partner_record_or_404(
                user=partner_agent, case=case, kind=kind, pk=shared[kind].pk
            )
            == shared[kind]
        )
    assert partner_note in selectors.records_for_partner(
        user=partner_agent, case=case, kind="notes"
    )
    # The agency sees everything.
    for kind in KINDS:
        assert internal[kind] in selectors.case_records(case=case, kind=kind)


def test_a_record_of_another_case_is_404_even_when_shared(caseworker, partner_agent):
    case, _ = make_referral(agent_user=partner_agent)
    case, _ = selectors.partner_case_or_404(user=partner_agent, pk=case.pk)
    other = make_case(status=Case.Status.THIRD_PARTY)
    note = services.record_add(
        actor=caseworker, case=other, kind="notes", body="Elsewhere", shared_with_partners=True
    )
    with pytest.raises(Http404):
        selectors.partner_record_or_404(user=partner_agent, case=case, kind="notes", pk=note.pk)


def test_the_new_count_counts_unseen_active_assignments_only(agency_manager, partner_agent):
    first, _ = make_referral(agent_user=partner_agent)
    second, _ = make_referral(agent_user=partner_agent)
    assert selectors.new_case_count(user=partner_agent) == 2
    services.case_mark_seen(user=partner_agent, case=first)
    services.case_team_remove(actor=agency_manager, case=second, user=partner_agent)
    assert selectors.new_case_count(user=partner_agent) == 0
    assert selectors.new_case_count(user=agency_manager) == 0


# Agency selectors --------------------------------------------------------------------------


def test_agency_staff_see_every_case_and_partners_none(
    agency_manager, caseworker, admin_user, partner_agent, partner_manager
):
    case, _ = make_referral(agent_user=partner_agent)
    for user in (agency_manager, caseworker, admin_user):
        assert case in selectors.cases_for_agency(user=user)
        assert selectors.agency_case_or_404(user=user, pk=case.pk) == case
    for user in (partner_agent, partner_manager):
        assert not selectors.cases_for_agency(user=user).exists()
        assert not selectors.agency_case_list(user=user).exists()
        with pytest.raises(Http404):
            selectors.agency_case_or_404(user=user, pk=case.pk)


def test_the_cases_list_searches_filters_and_sorts(
    agency_manager, caseworker, partner_agent, northside, harbor
):
    housing = ProgramFactory(code="HOUSING", name="Housing Assistance")
    delgado = make_case(
        name="Delgado Household: Eviction defense",
        applicant_name="Maria Delgado",
        program=housing,
        owner=caseworker,
    )
    referred, _ = make_referral(
        agent_user=partner_agent, name="Nguyen Household: SNAP", applicant_name="Thu Nguyen"
    )
    services.partner_add(actor=agency_manager, case=referred, partner=harbor)  # secondary
    closed = make_case(status=Case.Status.CLOSED, name="Okafor Household: WIC")

    def listed(**filters):
        return list(selectors.agency_case_list(user=agency_manager, **filters))

    assert listed(query="delgado") == [delgado]  # applicant or Case Name, any case
    assert listed(query=referred.number) == [referred]
    assert listed(query="eviction") == [delgado]
    assert listed(status=Case.Status.CLOSED) == [closed]
    assert listed(program="HOUSING") == [delgado]
    assert listed(partner=str(northside.pk)) == [referred]
    assert listed(partner=str(harbor.pk)) == []  # the Primary partner only
    assert listed(owner=str(caseworker.pk)) == [delgado]
    assert listed(pending_only=True) == [referred]
    assert listed(sort="number") == sorted(listed(sort="number"), key=lambda c: c.number)
    assert listed(sort="-number") == listed(sort="number")[::-1]
    assert listed(sort="-no-such-field") == listed(sort="-updated")
    member = referred.team.get(user=partner_agent)
    services.referral_accept(actor=partner_agent, referral=member.referral)
    assert listed(pending_only=True) == []


# Referral timing and the case header's referral --------------------------------------------


def test_a_pending_referral_is_due_in_business_hours_then_overdue(partner_agent):
    _case, member = make_referral(agent_user=partner_agent)
    referral = member.referral
    asked = referral.requested_at

    timing = selectors.referral_timing(referral=referral, now=asked)
    assert timing == selectors.Timing("due in 16 business hours", False, referral.due_at)
    assert selectors.referral_timing(
        referral=referral, now=referral.due_at + timedelta(minutes=30)
    ) == selectors.Timing("overdue by 30 minutes", True, referral.due_at)
    late = selectors.referral_timing(referral=referral, now=referral.due_at + timedelta(days=2))
    assert late.text == "overdue by 2 days" and late.overdue


def test_a_referral_being_worked_has_no_deadline_and_a_waitlisted_one_a_review_date(
    partner_agent,
):
    _case, member = make_referral(agent_user=partner_agent, accepted=True)
    assert selectors.referral_timing(referral=member.referral) is None
    review_at = timezone.now() + timedelta(days=10)
    referral = services.referral_waitlist(
        actor=partner_agent, referral=member.referral, review_at=review_at
    )
    when = timezone.localtime(review_at)
    assert selectors.referral_timing(referral=referral) == selectors.Timing(
        f"review on {when:%b %-d, %Y}", False, review_at
    )
    overdue = selectors.referral_timing(referral=referral, now=review_at + timedelta(days=1))
    assert overdue.text == "review overdue by 1 day" and overdue.overdue


def test_the_header_referral_is_the_open_one_due_first_else_the_newest(
    agency_manager, partner_agent, outsider
):
    case, first = make_referral(agent_user=partner_agent, actor=agency_manager)
    record_consent(case, outsider.partner_agent.organization)
    soon = services.case_team_add(actor=agency_manager, case=case, user=outsider, response_hours=2)
    assert selectors.case_current_referral(case=case) == soon.referral
    services.referral_decline(actor=outsider, referral=soon.referral, reason="no_capacity")
    assert selectors.case_current_referral(case=case) == first.referral
    services.referral_decline(actor=partner_agent, referral=first.referral, reason="conflict")
    # Nothing open: the newest referral, however it ended.
    assert selectors.case_current_referral(case=case) == soon.referral
    assert selectors.case_current_referral(case=make_case(status=Case.Status.THIRD_PARTY)) is None
