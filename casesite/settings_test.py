"""Settings of the test suite: `casesite.settings` with the environment the tests assume.

Bare `pytest` from the project root and `make test` both use this module (pyproject.toml).
Each value is a default: the environment still wins, so `DATABASE_URL` picks PostgreSQL.
Processes the tests start inherit the same environment."""

import os

TEST_ENVIRONMENT = {
    "SECRET_KEY": "tests-only-secret-key-not-for-production-use-0123456789",  # nosec B105
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "BEHIND_TLS_PROXY": "0",
    "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
    "TASKS_BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
    "MFA_REQUIRED_FOR": "",
}
for name, value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(name, value)

from .settings import *  # noqa: E402, F403
