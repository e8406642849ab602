"""Test-suite settings: hypothesis runs derandomised, so CI is reproducible."""

from hypothesis import settings

settings.register_profile("gradtx", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("gradtx")
