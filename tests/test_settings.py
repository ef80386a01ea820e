"""Configuration: production defaults are safe and nothing points at a package registry."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides):
    dev_only = ("SECURE_", "STATICFILES", "DJANGO_ALLOW_ASYNC_UNSAFE", "BEHIND_TLS_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dev_only)}
    env.update(
        DJANGO_SETTINGS_MODULE="casesite.settings",  # not the suite's own
        SECRET_KEY="k3y-" + "x7Q!p9" * 10,
        DEBUG="0",
        ALLOWED_HOSTS="caseworks.example.gov",
        DATABASE_URL="sqlite:///:memory:",
    )
    env.update(overrides)
    return env


def manage(*args, env):
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_on_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    env.pop("SECRET_KEY")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked_for():
    env = production_env()
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        env=env,
    )
    assert result.stdout.strip() == "False"


REGISTRY = re.compile(
    r"registry\.npmjs\.org|pypi\.org|files\.pythonhosted|index-url|registry\.yarnpkg|"
    r"npm\.pkg\.github|deb\.debian\.org",
    re.IGNORECASE,
)


def test_no_file_in_the_repository_names_a_package_registry():
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = [
        name
        for name in tracked
        if (ROOT / name).is_file()
        and name != "tests/test_settings.py"
        and REGISTRY.search((ROOT / name).read_text(errors="ignore"))
    ]
    assert offenders == []


def test_bare_pytest_runs_from_the_project_root_with_nothing_in_the_environment():
    """The suite's settings are in one place (casesite.settings_test), not in a Makefile."""
    env = {"PATH": os.environ["PATH"], "HOME": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_people.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
