"""memcached and the file backend: another process's clear() never costs this one a write."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import caches

from omnitenant import TenantContext
from omnitenant.patches.cache._keys import forget_generations
from tests.patches.cache.conftest import _backend_param

use = TenantContext.use_tenant
GENERATION_BACKENDS = [_backend_param("file"), _backend_param("memcached")]

# Another Django process on the same CACHES: runs one cache call per line of stdin.
OTHER_PROCESS = """
import json, sys
from types import SimpleNamespace
import django
from django.test.utils import override_settings
django.setup()
from django.core.cache import caches
from omnitenant import TenantContext
alias, caches_setting = sys.argv[1], json.loads(sys.argv[2])
with override_settings(CACHES=caches_setting):
    print("ready", flush=True)
    for line in sys.stdin:
        tenant_id, method, args = json.loads(line)
        with TenantContext.use_tenant(SimpleNamespace(tenant_id=tenant_id)):
            print(json.dumps(getattr(caches[alias], method)(*args)), flush=True)
"""


@pytest.fixture
def other_process(alias):
    """``call(tenant_id, method, *args)``: ``caches[alias].method(*args)`` in another process."""
    process = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, alias, json.dumps(settings.CACHES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )

    assert process.stdout.readline() == "ready\n"  # started before the test's timing begins

    def call(tenant_id, method, *args):
        process.stdin.write(json.dumps([tenant_id, method, args]) + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    try:
        yield call
    finally:
        process.stdin.close()
        process.stdout.close()
        process.wait(timeout=30)


def remembered_generation_expires():
    """What GENERATION_TTL seconds do to this process: it reads the generation again."""
    forget_generations()


@pytest.mark.parametrize("alias", GENERATION_BACKENDS, indirect=True)
def test_writes_right_after_another_process_clears_are_kept(alias, other_process, acme, globex):
    backend = caches[alias]
    with use(acme):
        backend.set_many({"old": "before clear", "counter": 5})
    with use(globex):
        backend.set("kept", "globex")
    other_process("acme", "clear")
    with use(acme):
        backend.set("session", "logged in")
        backend.add("added", 1)
        backend.set_many({"many": 2})
        backend.add("counter", 0)
        backend.incr("counter")
    remembered_generation_expires()
    with use(acme):
        assert backend.get_many(["old", "session", "added", "many", "counter"]) == {
            "session": "logged in",
            "added": 1,
            "many": 2,
            "counter": 1,
        }
    assert other_process("acme", "get", "session") == "logged in"
    with use(globex):
        assert backend.get("kept") == "globex"


@pytest.mark.parametrize("alias", GENERATION_BACKENDS, indirect=True)
def test_a_delete_right_after_another_process_clears_is_kept(alias, other_process, acme):
    backend = caches[alias]
    with use(acme):
        backend.set("session", "old")  # this process now remembers the generation
    other_process("acme", "clear")
    other_process("acme", "set", "session", "new login")
    with use(acme):
        assert backend.delete("session")  # a logout: must reach the live entry
    assert other_process("acme", "get", "session") is None
