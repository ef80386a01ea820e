"""factory-boy factories. Anything with state goes through the real services."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.roles import Role
from cases.roles import sync_roles
from partners.models import PartnerAgent, PartnerOrganization
from partners.services import partner_agent_save

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            # Transactional tests flush the groups the migration made: recreate them.
            if Group.objects.filter(name__in=extracted).count() < len(extracted):
                sync_roles()
            self.groups.add(*Group.objects.filter(name__in=extracted))


def agency_user(username: str, role: str = Role.AGENCY_CASEWORKER, **kwargs):
    return UserFactory(username=username, roles=[role], **kwargs)


class PartnerOrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerOrganization
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Partner Organization {n}")
    kind = PartnerOrganization.Kind.SERVICE_PROVIDER
    languages = factory.LazyFunction(lambda: ["en"])


class PartnerAgentFactory(factory.django.DjangoModelFactory):
    """A partner agent, saved through `partner_agent_save` so its groups are right."""

    class Meta:
        model = PartnerAgent

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(PartnerOrganizationFactory)
    role = PartnerAgent.Role.AGENT

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if not Group.objects.filter(name__in=Role.PARTNER).exists():
            sync_roles()
        return partner_agent_save(**kwargs)


# Cases: built through the real services and transitions ------------------------------------

from datetime import timedelta  # noqa: E402

from django.utils import timezone  # noqa: E402

from cases import access, services  # noqa: E402
from cases.models import Case, Consent, Program  # noqa: E402
from casesite import clock  # noqa: E402


class ProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Program
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"P{n}")
    name = factory.LazyAttribute(lambda p: f"Program {p.code}")


def make_case(
    *,
    owner=None,
    status: str = Case.Status.OPEN,
    actor=None,
    program=None,
    **fields,
) -> Case:
    """A case in `status`, reached through the services as an agency manager would."""
    owner = owner or UserFactory(roles=[Role.AGENCY_MANAGER])
    actor = actor or UserFactory(username="factory-manager", roles=[Role.AGENCY_MANAGER])
    fields.setdefault("name", "Household of " + factory.Faker._get_faker().last_name())
    fields.setdefault("applicant_name", factory.Faker._get_faker().name())
    case = services.case_create(
        actor=actor, owner=owner, program=program or ProgramFactory(code="SNAP"), **fields
    )
    path = {
        Case.Status.OPEN: [],
        Case.Status.APPROVED: ["approve"],
        Case.Status.DENIED: ["deny"],
        Case.Status.THIRD_PARTY: ["approve", "refer"],
        Case.Status.CLOSED: ["approve", "close"],
    }[status]
    for name in path:
        case = services.case_transition(actor=actor, case=case, name=name)
    return case


EVERYTHING_BUT_PART_2 = ["details", "activities", "attachments", "servicerequests", "notes"]


def record_consent(
    case, organization=None, *, program=None, data=None, actor=None, days: int = 365, **fields
) -> Consent:
    """The client's consent for `organization` (or every partner of `program`), recorded
    today by an agency manager through the service: electronic, for `days` days, covering
    `data` (the details and every tab by default, not substance-use records)."""
    actor = actor or UserFactory(username="factory-manager", roles=[Role.AGENCY_MANAGER])
    today = timezone.localdate(clock.now())
    fields.setdefault("starts_on", today)
    fields.setdefault("ends_on", today + timedelta(days=days))
    fields.setdefault("purpose", "Legal help with the benefits case")
    fields.setdefault("method", Consent.Method.ELECTRONIC)
    data = EVERYTHING_BUT_PART_2 if data is None else data
    if Consent.SUBSTANCE_USE in data:
        fields.setdefault("information", "Treatment dates and provider")
        fields.setdefault("signed_on", today)
    return services.consent_record(
        actor=actor, case=case, organization=organization, program=program, data=data, **fields
    )


def consented(case, organization) -> bool:
    return access.disclosure_of(case=case, organization=organization).open


def make_referral(
    *,
    agent_user,
    case=None,
    actor=None,
    tabs=None,
    accepted: bool = False,
    consent: bool = True,
    **case_fields,
):
    """A Third-Party case with `agent_user` added to its Case Team (a pending, unseen
    referral; `accepted`: the agent accepted it, so that they can record work). `consent`:
    the client's consent for the agent's organization is recorded first, unless one is in
    force already."""
    actor = actor or UserFactory(username="factory-manager", roles=[Role.AGENCY_MANAGER])
    case = case or make_case(status=Case.Status.THIRD_PARTY, actor=actor, **case_fields)
    organization = agent_user.partner_agent.organization
    if consent and not consented(case, organization):
        record_consent(case, organization, actor=actor)
    member = services.case_team_add(actor=actor, case=case, user=agent_user, tabs=tabs)
    if accepted:
        services.referral_accept(actor=agent_user, referral=member.referral)
        member.refresh_from_db()
    return case, member
