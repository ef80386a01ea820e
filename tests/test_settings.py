"""Configuration: production defaults are safe and nothing points at a package registry."""

import json
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


LOCK_FILES = ("requirements.lock", "requirements-dev.lock", "package-lock.json")
# Any address at all (scheme://), and the pip options that point at an index or a mirror.
ADDRESS = re.compile(r"\b[a-z][a-z0-9+.-]*://", re.IGNORECASE)
INDEX_OPTION = re.compile(
    r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host)\b", re.MULTILINE
)
# Files that would send an installer to a registry of their own choosing.
REGISTRY_CONFIG = {".yarnrc", ".yarnrc.yml", "pip.conf", "pip.ini", ".pypirc", "uv.lock"}


def repository_files() -> list[str]:
    return subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_the_lock_files_pin_versions_and_name_no_address_or_index():
    for name in LOCK_FILES:
        text = (ROOT / name).read_text()
        assert not ADDRESS.search(text), name
        assert not INDEX_OPTION.search(text), name
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert not [path for path, entry in lock["packages"].items() if "resolved" in entry]
    for name in LOCK_FILES[:2]:
        pins = [
            line
            for line in (ROOT / name).read_text().splitlines()
            if line.strip() and not line.startswith(("#", "-r "))
        ]
        assert pins and all(re.fullmatch(r"[A-Za-z0-9._\[\]-]+==[\w.+!-]+", p) for p in pins)


def test_no_file_of_the_repository_configures_a_package_registry():
    assert not {Path(name).name for name in repository_files()} & REGISTRY_CONFIG
    # .npmrc only keeps addresses out of package-lock.json; it names no registry.
    settings = (ROOT / ".npmrc").read_text().splitlines()
    assert "omit-lockfile-registry-resolved=true" in settings
    keys = {line.split("=")[0].strip() for line in settings if "=" in line}
    assert not [key for key in keys if key.endswith("registry") or key.startswith("@")]
    assert not [line for line in settings if ADDRESS.search(line)]


def test_bare_pytest_runs_from_the_project_root_with_nothing_in_the_environment():
    """The suite's settings are in one place (casesite.settings_test), not in a Makefile."""
    env = {"PATH": os.environ["PATH"], "HOME": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/accounts/test_people.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
