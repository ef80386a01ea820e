"""The role x resource matrix of SECURITY.md, as data.

Each ENTRY names one URL pattern (by name and route), how to fill its ids from the seeded
world (`tests/security/world.py`), the method, the form data, and the expected answer for
every role. `test_access_matrix.py` turns each entry into a test that plays every role,
checks the answer, checks that no sentinel string leaks, and that every denial changed
nothing and was audited. A URL pattern without an entry fails `test_every_url_pattern_
has_an_entry`, so a new view cannot ship without its row here.

Answers:
  ok            200
  done          a redirect after success (302, not to a sign-in page)
  login         302 to the agency sign-in       login:portal  302 to the portal sign-in
  admin_login   302 to the admin sign-in
  403 404 405 409 400   that status
"""

from dataclasses import dataclass, field

ROLES = ("ANON", "PA", "PB", "PM", "PC", "PX", "PXD", "AG", "AM", "ADM")
PARTNERS = ("PA", "PB", "PM", "PC", "PX")
AGENCY = ("AG", "AM", "ADM")
# PX: PA's colleague after removal from the case team (still active).
# PXD: an agent of the team who was then deactivated (their sessions are gone).

ROLE_DOC = {
    "ANON": "not signed in",
    "PA": "partner agent on the case team",
    "PB": "agent of the same organization, not on the team",
    "PM": "partner manager of PA's organization",
    "PC": "agent of another organization",
    "PX": "agent removed from the team",
    "PXD": "agent on the team, then deactivated",
    "AG": "agency caseworker",
    "AM": "agency manager",
    "ADM": "admin (superuser)",
}


@dataclass(frozen=True)
class Entry:
    name: str
    route: str
    expect: dict
    method: str = "GET"
    kwargs: dict = field(default_factory=dict)  # converter -> key in world.ids (or a literal)
    data: dict = field(default_factory=dict)  # POST data; "@key" values come from world.ids
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}[{self.label or self.method}]"


def everyone(answer: str, **overrides) -> dict:
    expect = dict.fromkeys(ROLES, answer)
    expect.update(overrides)
    return expect


def signed_in(answer: str, *, anon: str = "login", **overrides) -> dict:
    """Any signed-in user gets `answer`; anonymous visitors and the deactivated agent are
    sent to sign in."""
    return everyone(answer, ANON=anon, PXD=anon, **overrides)


def portal_case(*, pa="ok", pm="ok", pb="404", pc="404", px="404") -> dict:
    """A portal URL of case A (PA's case): not yours is 404, agency staff have no portal."""
    return {
        "ANON": "login:portal",
        "PXD": "login:portal",
        "PA": pa,
        "PB": pb,
        "PM": pm,
        "PC": pc,
        "PX": px,
        "AG": "403",
        "AM": "403",
        "ADM": "403",
    }


def agency(*, ag="ok", am="ok", adm="ok") -> dict:
    """An agency page: partners get 403, AM-only actions are 403 for AG."""
    return {
        "ANON": "login",
        "PXD": "login",
        **dict.fromkeys(PARTNERS, "403"),
        "AG": ag,
        "AM": am,
        "ADM": adm,
    }


PORTAL = "portal/"
A = {"pk": "A"}

ENTRIES = (
    # Public and account pages --------------------------------------------------------------
    Entry("healthz", "healthz", everyone("ok")),
    Entry("home", "", signed_in("done")),
    Entry("login", "login/", signed_in("done", anon="ok")),
    Entry("logout", "logout/", everyone("login"), method="POST"),
    Entry("password_change", "password/", signed_in("ok")),
    Entry("password_change_done", "password/done/", signed_in("ok")),
    Entry("mfa_verify", "mfa/verify/", signed_in("done")),
    Entry("mfa_setup", "mfa/setup/", signed_in("ok")),
    Entry("portal:login", PORTAL + "login/", signed_in("done", anon="ok")),
    Entry(
        "portal:logout",
        PORTAL + "logout/",
        everyone("login:portal"),
        method="POST",
    ),
    Entry("portal:password_change", PORTAL + "password/", signed_in("ok", anon="login:portal")),
    Entry(
        "portal:password_change_done",
        PORTAL + "password/done/",
        signed_in("ok", anon="login:portal"),
    ),
    Entry("portal:password_reset", PORTAL + "password/reset/", everyone("ok")),
    Entry("portal:password_reset_done", PORTAL + "password/reset/sent/", everyone("ok")),
    Entry(
        "portal:password_reset_confirm",
        PORTAL + "password/reset/<uidb64>/<token>/",
        everyone("ok"),
        kwargs={"uidb64": "=MQ", "token": "=set-password"},
    ),
    Entry("portal:password_reset_complete", PORTAL + "password/reset/complete/", everyone("ok")),
    # Partner Portal --------------------------------------------------------------------------
    Entry(
        "portal:my_cases",
        PORTAL,
        {
            "ANON": "login:portal",
            "PXD": "login:portal",
            **dict.fromkeys(PARTNERS, "ok"),
            **dict.fromkeys(AGENCY, "403"),
        },
    ),
    Entry("portal:case", PORTAL + "cases/<int:pk>/", portal_case(), kwargs=A),
    Entry(
        "portal:case_tab",
        PORTAL + "cases/<int:pk>/<slug:tab>/",
        portal_case(),
        kwargs={"pk": "A", "tab": "=notes"},
        label="granted tab",
    ),
    Entry(
        "portal:case_tab",
        PORTAL + "cases/<int:pk>/<slug:tab>/",
        portal_case(pa="404", pm="404"),
        kwargs={"pk": "B", "tab": "=notes"},
        label="tab not granted",
    ),
    Entry(
        "portal:case_tab",
        PORTAL + "cases/<int:pk>/<slug:tab>/",
        portal_case(pa="404", pm="404"),
        kwargs={"pk": "A", "tab": "=team"},
        label="agency-only tab",
    ),
    Entry(
        "portal:accept",
        PORTAL + "cases/<int:pk>/accept/",
        portal_case(pa="done", pm="403"),
        method="POST",
        kwargs=A,
    ),
    Entry(
        "portal:accept",
        PORTAL + "cases/<int:pk>/accept/",
        portal_case(pa="409", pm="403"),
        method="POST",
        kwargs={"pk": "D"},
        label="already accepted",
    ),
    Entry(
        "portal:decline",
        PORTAL + "cases/<int:pk>/decline/",
        portal_case(pa="done", pm="403"),
        method="POST",
        kwargs=A,
        data={"reason": "no_capacity", "note": "Full this month"},
    ),
    Entry(
        "portal:reassign",
        PORTAL + "cases/<int:pk>/reassign/",
        portal_case(pa="403", pm="done"),
        method="POST",
        kwargs=A,
        data={"member": "@A_member_pa", "to_user": "@PB"},
    ),
    Entry(
        "portal:attachment_download",
        PORTAL + "cases/<int:pk>/attachments/<int:attachment_pk>/download/",
        portal_case(),
        kwargs={"pk": "A", "attachment_pk": "A_att_shared"},
        label="shared",
    ),
    Entry(
        "portal:attachment_download",
        PORTAL + "cases/<int:pk>/attachments/<int:attachment_pk>/download/",
        portal_case(pa="404", pm="404"),
        kwargs={"pk": "A", "attachment_pk": "A_att_internal"},
        label="not shared",
    ),
    Entry(
        "portal:attachment_download",
        PORTAL + "cases/<int:pk>/attachments/<int:attachment_pk>/download/",
        portal_case(pa="404", pm="404"),
        kwargs={"pk": "A", "attachment_pk": "C_att_shared"},
        label="another case's file",
    ),
    Entry(
        "portal:service_request_status",
        PORTAL + "cases/<int:pk>/servicerequests/<int:record_pk>/status/",
        portal_case(pa="done", pm="done"),
        method="POST",
        kwargs={"pk": "D", "record_pk": "D_sr_shared"},
        data={"status": "in_progress"},
    ),
    Entry(
        "portal:service_request_status",
        PORTAL + "cases/<int:pk>/servicerequests/<int:record_pk>/status/",
        portal_case(pa="409", pm="409"),
        method="POST",
        kwargs={"pk": "A", "record_pk": "A_sr_shared"},
        data={"status": "in_progress"},
        label="referral pending",
    ),
    Entry(
        "portal:service_request_status",
        PORTAL + "cases/<int:pk>/servicerequests/<int:record_pk>/status/",
        portal_case(pa="404", pm="404"),
        method="POST",
        kwargs={"pk": "A", "record_pk": "A_sr_internal"},
        data={"status": "closed"},
        label="not shared",
    ),
    Entry(
        "portal:record_add",
        PORTAL + "cases/<int:pk>/<slug:tab>/add/",
        portal_case(pa="done", pm="done"),
        method="POST",
        kwargs={"pk": "D", "tab": "=notes"},
        data={"body": "Called the applicant."},
    ),
    Entry(
        "portal:record_add",
        PORTAL + "cases/<int:pk>/<slug:tab>/add/",
        portal_case(pa="409", pm="409"),
        method="POST",
        kwargs={"pk": "A", "tab": "=notes"},
        data={"body": "Called the applicant."},
        label="referral pending",
    ),
    Entry(
        "portal:referral_action",
        PORTAL + "cases/<int:pk>/referral/<slug:action>/",
        portal_case(pa="done", pm="403"),
        method="POST",
        kwargs={"pk": "D", "action": "=start"},
    ),
    Entry(
        "portal:referral_action",
        PORTAL + "cases/<int:pk>/referral/<slug:action>/",
        portal_case(pa="409", pm="403"),
        method="POST",
        kwargs={"pk": "A", "action": "=start"},
        label="pending cannot start",
    ),
    Entry(
        "portal:intake",
        PORTAL + "intake/",
        {
            "ANON": "login:portal",
            "PXD": "login:portal",
            **dict.fromkeys(PARTNERS, "404"),
            "PM": "ok",
            **dict.fromkeys(AGENCY, "403"),
        },
    ),
    Entry(
        "portal:intake_assign",
        PORTAL + "intake/<int:referral_pk>/assign/",
        {
            "ANON": "login:portal",
            "PXD": "login:portal",
            **dict.fromkeys(PARTNERS, "404"),
            "PM": "done",
            **dict.fromkeys(AGENCY, "403"),
        },
        method="POST",
        kwargs={"referral_pk": "F_intake"},
        data={"to_user": "@PB"},
    ),
    Entry(
        "portal:record_add",
        PORTAL + "cases/<int:pk>/<slug:tab>/add/",
        portal_case(pa="404", pm="404"),
        method="POST",
        kwargs={"pk": "B", "tab": "=notes"},
        data={"body": "Called the applicant."},
        label="tab not granted",
    ),
    # Agency workspace -------------------------------------------------------------------------
    Entry("cases:list", "cases/", agency()),
    Entry("cases:new", "cases/new/", agency()),
    Entry("cases:referrals", "cases/referrals/", agency()),
    Entry("cases:detail", "cases/<int:pk>/", agency(), kwargs=A),
    Entry(
        "cases:detail",
        "cases/<int:pk>/<slug:tab>/",
        agency(),
        kwargs={"pk": "A", "tab": "=notes"},
        label="tab",
    ),
    Entry("cases:edit", "cases/<int:pk>/edit/", agency(), kwargs=A),
    Entry("cases:live", "cases/<int:pk>/live/", agency(), kwargs=A),
    Entry("cases:disclosures", "cases/<int:pk>/disclosures/", agency(), kwargs=A),
    Entry("cases:disclosures_csv", "cases/<int:pk>/disclosures.csv", agency(), kwargs=A),
    Entry("cases:partner_options", "cases/<int:pk>/partners/options/", agency(), kwargs=A),
    Entry(
        "cases:detail",
        "cases/<int:pk>/<slug:tab>/",
        agency(),
        kwargs={"pk": "A", "tab": "=consent"},
        label="consent tab",
    ),
    Entry(
        "cases:consent_record",
        "cases/<int:pk>/consent/record/",
        agency(),  # no recipient: the form comes back with its errors
        method="POST",
        kwargs=A,
        data={"purpose": "Legal help"},
    ),
    Entry(
        "cases:consent_revoke",
        "cases/<int:pk>/consent/<int:consent_pk>/revoke/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "consent_pk": "A_consent"},
        data={"reason": "The client withdrew consent."},
    ),
    Entry(
        "cases:emergency_grant",
        "cases/<int:pk>/consent/emergency/",
        agency(ag="403", am="done", adm="done"),
        method="POST",
        kwargs=A,
        data={"organization": "@harbor", "reason": "Hearing tomorrow", "hours": "24"},
    ),
    Entry(
        "cases:transition",
        "cases/<int:pk>/transition/<slug:name>/",
        agency(ag="403", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "name": "=recall"},
    ),
    Entry(
        "cases:partner_add",
        "cases/<int:pk>/partners/add/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs=A,
        data={"partner": "@harbor"},
    ),
    Entry(
        "cases:partner_primary",
        "cases/<int:pk>/partners/<int:partner_pk>/primary/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "partner_pk": "northside"},
    ),
    Entry(
        "cases:partner_remove",
        "cases/<int:pk>/partners/<int:partner_pk>/remove/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "partner_pk": "northside"},
    ),
    Entry(
        "cases:team_add",
        "cases/<int:pk>/team/add/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs=A,
        data={"user": "@PB", "tabs": ["notes"]},
    ),
    Entry(
        "cases:team_remove",
        "cases/<int:pk>/team/<int:user_pk>/remove/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "user_pk": "PA"},
    ),
    Entry(
        "cases:servicerequest_status",
        "cases/<int:pk>/servicerequests/<int:record_pk>/status/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "record_pk": "A_sr_internal"},
        data={"status": "resolved"},
    ),
    Entry(
        "cases:attachment_download",
        "cases/<int:pk>/attachments/<int:attachment_pk>/download/",
        agency(),
        kwargs={"pk": "A", "attachment_pk": "A_att_internal"},
    ),
    Entry(
        "cases:record_add",
        "cases/<int:pk>/<slug:kind>/add/",
        agency(ag="done", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "A", "kind": "=notes"},
        data={"body": "Internal remark.", "shared_with_partners": ""},
    ),
    # The case owner's Inbox: the page is every agency user's own; an item only its owner's --
    Entry("cases:inbox", "cases/inbox/", agency()),
    Entry(
        "cases:inbox_done",
        "cases/inbox/<int:item_pk>/done/",
        agency(ag="404", am="done", adm="404"),
        method="POST",
        kwargs={"item_pk": "inbox_am"},
    ),
    Entry(
        "cases:inbox_reopen",
        "cases/inbox/<int:item_pk>/reopen/",
        agency(ag="404", am="done", adm="404"),
        method="POST",
        kwargs={"item_pk": "inbox_am"},
    ),
    # Assignment Manager: routing is AM only ---------------------------------------------------
    Entry(
        "cases:route",
        "cases/<int:pk>/route/",
        agency(ag="403", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "E"},
    ),
    Entry("cases:routing", "cases/routing/", agency(ag="403")),
    Entry("cases:routing_rule_new", "cases/routing/new/", agency(ag="403")),
    Entry(
        "cases:routing_rule_edit",
        "cases/routing/<int:pk>/edit/",
        agency(ag="403"),
        kwargs={"pk": "rule"},
    ),
    Entry(
        "cases:routing_dry_run",
        "cases/routing/<int:pk>/dry-run/",
        agency(ag="403"),
        kwargs={"pk": "rule"},
    ),
    Entry(
        "cases:routing_rule_active",
        "cases/routing/<int:pk>/active/",
        agency(ag="403", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "rule"},
        data={"active": ""},
    ),
    Entry(
        "cases:routing_rule_move",
        "cases/routing/<int:pk>/move/",
        agency(ag="403", am="done", adm="done"),
        method="POST",
        kwargs={"pk": "rule"},
        data={"direction": "down"},
    ),
    Entry(
        "cases:routing_route_unassigned",
        "cases/routing/route-unassigned/",
        agency(ag="403", am="done", adm="done"),
        method="POST",
    ),
)

# The Django admin has its own sign-in; staff only (and two-step verification, test_mfa.py).
ADMIN_ENTRIES = (
    Entry("admin:index", "admin/", everyone("admin_login", ADM="ok")),
    Entry(
        "admin:cases_case_change",
        "admin/cases/case/<path:object_id>/change/",
        everyone("admin_login", ADM="ok"),
        kwargs={"object_id": "A"},
    ),
    Entry(
        "admin:accounts_securityevent_changelist",
        "admin/accounts/securityevent/",
        everyone("admin_login", ADM="ok"),
    ),
)
