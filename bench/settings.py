"""The project's settings, with the benchmark's floor routed next to the API (bench.urls)."""

from cryptogroups.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
