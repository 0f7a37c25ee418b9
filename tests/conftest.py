from importlib.metadata import entry_points

import pytest
from django.core.cache import cache

from omnitenant.testing import reset_lookups

# --- requests: the omnitenant.testing plugin -----------------------------------------------
# Installed packages load it through their pytest11 entry point; from a plain checkout
# (not pip-installed) load it here, and never twice.
if not any(ep.value == "omnitenant.testing" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["omnitenant.testing"]
# --- end requests --------------------------------------------------------------------------


@pytest.fixture
def fresh_lookups():
    """An empty default cache and cold tenant lookups, before and after the test."""
    cache.clear()
    reset_lookups()
    yield
    reset_lookups()
