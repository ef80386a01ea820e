"""The seeded world of the access matrix, built through the services.

Case A is PA's (pending, every tab). Every internal field of A and B, and every record not
shared with partners, carries a unique sentinel string that no partner may ever see. Case C
belongs to PC's organization; its strings must never reach PA, PB or PM. Case B gives PA
the details only (no tab); case D is accepted already (a second accept is 409); case E has
no partner agent yet (the Assignment Manager routes it).
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from cases import services
from cases.inbox import services as inbox_services
from cases.models import AssignmentRule, Case, InboxItem
from tests.factories import PartnerAgentFactory, UserFactory, make_case, record_consent

ALL_TABS = ["activities", "attachments", "servicerequests", "notes"]

# Strings no partner may see, anywhere (internal fields and unshared records of A and B).
INTERNAL = (
    "SENTINEL-IDENT-A",
    "SENTINEL-ELIG-A",
    "98765.43",
    "98,765.43",
    # The date of birth as any page or export would write it (the bare year "1911" turns up
    # by chance in times and tokens, such as microseconds).
    "Nov 11, 1911",
    "November 11, 1911",
    "1911-11-11",
    "11/11/1911",
    "SENTINEL-NOTE-A-INTERNAL",
    "SENTINEL-ACT-A-INTERNAL",
    "SENTINEL-SR-A-INTERNAL",
    "SENTINEL-ATT-A-INTERNAL",
    "sentinel-internal-a",
    "SENTINEL-FILE-A-INTERNAL",
    "SENTINEL-IDENT-B",
    "SENTINEL-ELIG-B",
    "SENTINEL-NOTE-B-INTERNAL",
    "SENTINEL-RULE-NAME",
)
# What A shows its partners: hidden from everyone else (PB, PC, PX).
SHARED_A = (
    "SENTINEL-NAME-A",
    "SHARED-NOTE-A",
    "SHARED-ACT-A",
    "SHARED-SR-A",
    "SHARED-ATT-A",
    "shared-a",
    "SHARED-FILE-A",
)
# Case C (PC's organization): hidden from PA, PB, PM, PX.
CASE_C = ("SENTINEL-NAME-C", "SHARED-NOTE-C", "shared-c", "SHARED-FILE-C")


@dataclass
class World:
    users: dict
    cases: dict
    ids: dict = field(default_factory=dict)

    def sentinels_hidden_from(self, role: str) -> tuple[str, ...]:
        """Strings that must not appear in any response to this role."""
        if role in ("AG", "AM", "ADM"):
            return ()
        hidden = INTERNAL
        if role in ("PB", "PC", "PX", "PXD", "ANON"):
            hidden += (*SHARED_A, self.cases["A"].number)
        if role != "PC":
            hidden += (*CASE_C, self.cases["C"].number)
        return hidden


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/plain")


def build_world(*, pa, pb, pm, pc, ag, am, adm, northside, harbor) -> World:
    px = PartnerAgentFactory(user=UserFactory(username="px"), organization=northside).user
    pxd = PartnerAgentFactory(user=UserFactory(username="pxd"), organization=northside).user
    users = {
        "PA": pa,
        "PB": pb,
        "PM": pm,
        "PC": pc,
        "PX": px,
        "PXD": pxd,
        "AG": ag,
        "AM": am,
        "ADM": adm,
    }
    case_a = make_case(
        status=Case.Status.THIRD_PARTY,
        actor=am,
        name="SENTINEL-NAME-A household",
        applicant_identifier="SENTINEL-IDENT-A",
        eligibility_notes="SENTINEL-ELIG-A verified wages",
        household_income=Decimal("98765.43"),
        date_of_birth=date(1911, 11, 11),
        summary="Needs help with the appeal.",
    )
    record_consent(case_a, northside, actor=am)
    member_pa = services.case_team_add(actor=am, case=case_a, user=pa, tabs=ALL_TABS)
    services.case_team_add(actor=am, case=case_a, user=px, tabs=ALL_TABS)
    services.case_team_remove(actor=am, case=case_a, user=px)
    services.case_team_add(actor=am, case=case_a, user=pxd, tabs=ALL_TABS)

    def records(case, tag, shared):
        suffix = "SHARED" if shared else "INTERNAL"
        prefix = f"SHARED-{{}}-{tag}" if shared else f"SENTINEL-{{}}-{tag}-INTERNAL"
        note = services.record_add(
            actor=ag,
            case=case,
            kind="notes",
            shared_with_partners=shared,
            body=prefix.format("NOTE"),
        )
        services.record_add(
            actor=ag,
            case=case,
            kind="activities",
            shared_with_partners=shared,
            subject=prefix.format("ACT"),
        )
        request = services.record_add(
            actor=ag,
            case=case,
            kind="servicerequests",
            shared_with_partners=shared,
            title=prefix.format("SR"),
        )
        name = f"{'shared' if shared else 'sentinel-internal'}-{tag.lower()}.txt"
        attachment = services.attachment_add(
            actor=ag,
            case=case,
            upload=_upload(name, f"{prefix.format('FILE')} {suffix}".encode()),
            description=prefix.format("ATT"),
            shared_with_partners=shared,
        )
        return note, request, attachment

    _, sr_shared, att_shared = records(case_a, "A", True)
    _, sr_internal, att_internal = records(case_a, "A", False)

    case_b = make_case(
        status=Case.Status.THIRD_PARTY,
        actor=am,
        name="Details-only household",
        applicant_identifier="SENTINEL-IDENT-B",
        eligibility_notes="SENTINEL-ELIG-B",
    )
    record_consent(case_b, northside, actor=am)
    services.case_team_add(actor=am, case=case_b, user=pa, tabs=[])
    services.record_add(
        actor=ag,
        case=case_b,
        kind="notes",
        shared_with_partners=False,
        body="SENTINEL-NOTE-B-INTERNAL",
    )

    case_c = make_case(status=Case.Status.THIRD_PARTY, actor=am, name="SENTINEL-NAME-C family")
    record_consent(case_c, harbor, actor=am)
    services.case_team_add(actor=am, case=case_c, user=pc, tabs=ALL_TABS)
    services.record_add(
        actor=ag, case=case_c, kind="notes", shared_with_partners=True, body="SHARED-NOTE-C"
    )
    att_c = services.attachment_add(
        actor=ag,
        case=case_c,
        upload=_upload("shared-c.txt", b"SHARED-FILE-C"),
        shared_with_partners=True,
    )

    case_d = make_case(status=Case.Status.THIRD_PARTY, actor=am, name="Accepted household")
    record_consent(case_d, northside, actor=am)
    member_d = services.case_team_add(actor=am, case=case_d, user=pa, tabs=ALL_TABS)
    services.referral_accept(actor=pa, referral=member_d.referral)
    sr_d = services.record_add(
        actor=ag,
        case=case_d,
        kind="servicerequests",
        shared_with_partners=True,
        title="SHARED-SR-D",
    )

    # Case F waits in the intake queue of PA's organization (its partner managers assign it).
    case_f = make_case(status=Case.Status.THIRD_PARTY, actor=am, name="Intake household")
    record_consent(case_f, northside, actor=am)
    intake_f = services.referral_to_organization(actor=am, case=case_f, organization=northside)

    case_e = make_case(status=Case.Status.THIRD_PARTY, actor=am, name="Unassigned household")
    record_consent(case_e, northside, actor=am)
    rule = AssignmentRule.objects.create(name="SENTINEL-RULE-NAME", order=1)
    rule.organizations.add(northside)

    # The Inbox: one item of AM's (anybody else's attempt to mark it done is 404).
    inbox_am = inbox_services.inbox_item_add(
        user=am, case=case_a, kind=InboxItem.Kind.DECLINED, text="Declined: No capacity"
    )

    world = World(
        users=users,
        cases={"A": case_a, "B": case_b, "C": case_c, "D": case_d, "E": case_e, "F": case_f},
    )
    world.ids = {
        **{key: case.pk for key, case in world.cases.items()},
        **{role: user.pk for role, user in users.items()},
        "A_member_pa": member_pa.pk,
        "A_consent": case_a.consents.get().pk,
        "D_sr_shared": sr_d.pk,
        "F_intake": intake_f.pk,
        "A_att_shared": att_shared.pk,
        "A_att_internal": att_internal.pk,
        "A_sr_shared": sr_shared.pk,
        "A_sr_internal": sr_internal.pk,
        "C_att_shared": att_c.pk,
        "northside": northside.pk,
        "harbor": harbor.pk,
        "rule": rule.pk,
        "inbox_am": inbox_am.pk,
    }
    return world
