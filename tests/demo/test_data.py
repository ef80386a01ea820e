"""The demo data is a file (demo/data.toml), checked when it is read."""

import pytest

from demo import data
from demo.management.commands.load_demo import Command


def test_the_data_file_declares_every_part_of_the_demo():
    demo = data.demo_data()
    assert [login.username for login in demo.logins] == [
        "admin",
        "manager",
        "caseworker",
        "partner",
        "partner2",
        "partnermgr",
        "outsider",
    ]
    assert all(login.can_sign_in for login in demo.logins)
    assert not any(agent.can_sign_in for agent in demo.directory_agents)
    organizations = {org["name"] for org in demo.organizations}
    for person in (*demo.logins, *demo.directory_agents):
        assert not person.organization or person.organization in organizations
    assert sum(entry.count for entry in demo.plan) == 67
    assert len(demo.routing_rules) == 4
    assert set(demo.topics) == {code for code, _ in demo.programs}


def test_every_story_of_the_plan_is_one_the_loader_knows():
    for entry in data.demo_data().plan:
        assert callable(getattr(Command, f"_story_{entry.kind}", None)), entry.kind


@pytest.mark.parametrize(
    ("section", "row", "message"),
    [
        ("organization", {"kind": "bakery", "default_tabs": []}, "organization kind"),
        ("organization", {"kind": "law_firm", "default_tabs": ["secrets"]}, "tab"),
        ("rule", {"strategy": "random", "on_expiry": "escalate"}, "routing strategy"),
        ("login", {"agency_role": "Overlord"}, "agency role"),
    ],
)
def test_a_value_the_models_do_not_know_is_refused(section, row, message):
    read = {
        "organization": data._organization,
        "rule": data._rule,
        "login": lambda row: data._login(
            {"username": "x", "first_name": "X", "last_name": "Y", **row}, can_sign_in=True
        ),
    }[section]
    with pytest.raises(ValueError, match=message):
        read(row)
