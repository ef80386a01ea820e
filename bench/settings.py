"""Settings of `make bench`: the production settings, plus the benchmark's own app (its
baseline pages B0 and B1, and its `seed_bench` and `bench_routing` commands) and the
switch that serves My Cases through the plain ORM path.

    DJANGO_SETTINGS_MODULE=bench.settings
    BENCH_MY_CASES=orm   (default: compiled)
"""

import os

from casesite.settings import *  # noqa: F403
from casesite.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"

MY_CASES_COMPILED_SQL = os.environ.get("BENCH_MY_CASES", "compiled").strip() != "orm"
