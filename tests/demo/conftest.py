"""The demo data once per module (the cases tests' fixture), and the cases tests' helpers."""

from tests.cases.conftest import (  # noqa: F401  (fixtures)
    demo,
    fast_password_hashing,
    load_demo,
    private_storage,
    services_without_routing,
)
