import shutil
import uuid
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

BACKENDS = ["locmem", "database", "file", "redis", "django_redis", "memcached"]
LISTING = {"locmem", "database", "redis", "django_redis"}


def tenant(tenant_id, **attrs):
    """A lightweight tenant: anything with a tenant_id can be activated."""
    return SimpleNamespace(tenant_id=tenant_id, **attrs)


@pytest.fixture
def acme():
    return tenant("acme")


@pytest.fixture
def globex():
    return tenant("globex")


@pytest.fixture(scope="session")
def _cache_table(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("createcachetable", database="default", verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def _remove_file_caches():
    yield
    shutil.rmtree(settings.CACHE_TEST_DIR, ignore_errors=True)


def fresh_caches(alias, tmp_path):
    """CACHES with ``alias`` under a prefix no other test (or test run) uses."""
    run = uuid.uuid4().hex[:10]
    entry = dict(settings.CACHES[alias])
    entry["KEY_PREFIX"] = f"{settings.CACHE_TEST_PREFIX}-{run}"
    if alias == "locmem":
        entry["LOCATION"] = f"locmem-{run}"
    if alias == "file":
        entry["LOCATION"] = str(tmp_path / "file-cache")
    return {**settings.CACHES, alias: entry}


def _backend_param(name):
    # Threads and sync_to_async reach the database cache on their own connections.
    marks = [pytest.mark.django_db(transaction=True)] if name == "database" else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(params=[_backend_param(name) for name in BACKENDS])
def alias(request, tmp_path):
    """Each supported backend in turn, against its real server, with a fresh key prefix."""
    if request.param == "database":
        request.getfixturevalue("_cache_table")
    with override_settings(CACHES=fresh_caches(request.param, tmp_path)):
        yield request.param


@pytest.fixture
def backend(alias):
    return caches[alias]


@pytest.fixture
async def async_connections():
    """Close the connections that sync_to_async's thread opened, after the test."""
    yield
    await sync_to_async(caches.close_all)()
    await sync_to_async(connections.close_all)()
