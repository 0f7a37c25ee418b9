"""Tenant lookups while the cache holding the version stamp is killed, restarted or stalled.

The rig starts its own redis-server and memcached on free loopback ports. In every case:
no answer is another tenant's, the public host keeps working, a change is seen within 2 s
of the server being back, and nothing committed is lost.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from omnitenant import lookup
from omnitenant.lookup import _stamp
from tests.servers._process import free_port, kill
from tests.servers.memcached import MemcachedServer
from tests.servers.redis import RedisServer
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

RECOVERY = 2.0  # seconds after the server is back


@pytest.fixture(scope="module")
def redis_rig(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def memcached_rig():
    server = MemcachedServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_server(redis_rig):
    redis_rig.ensure_running()  # whatever the previous test left
    return redis_rig


@pytest.fixture
def memcached_server(memcached_rig):
    memcached_rig.ensure_running()
    return memcached_rig


def redis_alias(server):
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": server.url,
        "KEY_PREFIX": f"rig-{uuid.uuid4().hex[:8]}",
    }


def memcached_alias(server):
    # Django's default OPTIONS, as a project would have them.
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": server.location,
        "KEY_PREFIX": f"rig-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def stamp_on(settings):
    """Keep the version stamp in a rig server's cache (alias "rig"); return the site's env."""

    def use(alias_settings):
        settings.CACHES = {**settings.CACHES, "rig": alias_settings}
        settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "RESOLUTION_CACHE_ALIAS": "rig"}
        lookup.invalidate()
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "OMNITENANT_TEST_DB": connection.settings_dict["NAME"],
            "OMNITENANT_CACHE_PREFIX": settings.CACHE_TEST_PREFIX,
            "OMNITENANT_RIG_CACHES": json.dumps({"rig": alias_settings}),
            "OMNITENANT_RIG_STAMP_ALIAS": "rig",
        }

    yield use
    lookup.before_fork()


@pytest.fixture
def tenants():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    Tenant.objects.create(tenant_id="globex", name="Globex")
    return acme


def wait_until(condition, timeout, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.01)


def whoami(client, host):
    """(status, tenant id or None) of a request to ``host`` through the test client."""
    response = client.get("/whoami/", HTTP_HOST=host)
    return response.status_code, (
        response.json()["request"] if response.status_code == 200 else None
    )


def assert_serving(client):
    assert whoami(client, "acme.example.com") == (200, "acme")
    assert whoami(client, "globex.example.com") == (200, "globex")
    assert whoami(client, "example.com") == (200, None)


OBSERVER = """
import sys, time
import tests.rig_site
from omnitenant import lookup
last = None
while True:
    try:
        tenant = lookup.tenant_by_id("acme")
        answer = "none" if tenant is None else f"{tenant.tenant_id}:{tenant.is_active}"
    except Exception as exc:
        answer = f"error:{type(exc).__name__}"
    if not lookup.reads_stamp():
        answer += ":subscribed"
    if answer != last:
        print(answer, flush=True)
        last = answer
    time.sleep(0.01)
"""


class Observer:
    """Another process serving lookups of acme in a loop; reports each change of answer."""

    def __init__(self, env):
        self.process = subprocess.Popen(
            [sys.executable, "-c", OBSERVER], env=env, stdout=subprocess.PIPE, text=True
        )
        self.answers = queue.Queue()
        self.seen = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.answers.put(line.strip())

    def wait_for(self, wanted, timeout):
        """The first answer starting with ``wanted`` within ``timeout`` s; fail otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"observer never answered {wanted!r}: {self.seen}"
            try:
                answer = self.answers.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(answer)
            assert not answer.startswith(("globex", "none")), self.seen  # never another's
            if answer.startswith(wanted):
                return answer

    def stop(self):
        kill(self.process)
        self._reader.join(5)  # until end of file
        self.process.stdout.close()


@pytest.mark.parametrize("restart", ["from_aof", "empty"])
def test_tenant_saved_while_redis_is_down_reaches_every_process(
    redis_server, stamp_on, tenants, client, restart
):
    env = stamp_on(redis_alias(redis_server))
    observer = Observer(env)
    try:
        observer.wait_for("acme:True:subscribed", 20)
        wait_until(lambda: not lookup.reads_stamp(), 5, "this process subscribed")
        assert_serving(client)
        redis_server.kill()
        # Requests and commands keep being served, each by its own tenant.
        assert_serving(client)
        out = StringIO()
        call_command("tenant_command", "show_tenant", tenant="acme", stdout=out)
        assert json.loads(out.getvalue())["tenant"] == "acme"
        tenants.is_active = False
        tenants.save()  # committed; the stamp cannot be published now, and that is no error
        assert Tenant.objects.get(tenant_id="acme").is_active is False
        assert whoami(client, "acme.example.com") == (404, None)  # this process knows at once
        assert whoami(client, "example.com") == (200, None)
        if restart == "empty":
            redis_server.wipe()
        redis_server.start()
        observer.wait_for("acme:False", RECOVERY)
        wait_until(lambda: _stamp.pending_stamp() is None, RECOVERY, "pending stamp published")
        assert whoami(client, "acme.example.com") == (404, None)
        assert whoami(client, "globex.example.com") == (200, "globex")
    finally:
        observer.stop()


def test_redis_back_from_its_aof_with_an_old_stamp_clears_other_processes(
    redis_server, stamp_on, tenants
):
    observer = Observer(stamp_on(redis_alias(redis_server)))
    try:
        observer.wait_for("acme:True:subscribed", 20)
        redis_server.kill()
        # Changed while no process could be told (the saver's stamp was lost with it).
        Tenant.objects.filter(tenant_id="acme").update(is_active=False)
        redis_server.start()  # the AOF brings back the stamp the observer already has
        observer.wait_for("acme:False", RECOVERY)
    finally:
        observer.stop()


def test_memcached_restart_costs_no_longer_than_itself(memcached_server, stamp_on, tenants, client):
    stamp_on(memcached_alias(memcached_server))
    assert_serving(client)
    memcached_server.kill()
    for _ in range(3):
        assert_serving(client)  # cached answers, bounded by RESOLUTION_CACHE_TTL
    # A change made elsewhere while memcached is down: its stamp is lost with the server.
    Tenant.objects.filter(tenant_id="acme").update(is_active=False)
    memcached_server.start()
    wait_until(lambda: whoami(client, "acme.example.com") == (404, None), RECOVERY, "change seen")
    assert whoami(client, "example.com") == (200, None)
    # And once it is back, changes made elsewhere arrive through it again.
    Tenant.objects.filter(tenant_id="acme").update(is_active=True)
    _stamp.publish_stamp(uuid.uuid4().hex)
    wait_until(lambda: whoami(client, "acme.example.com") == (200, "acme"), 1, "change seen")


def test_tenant_saved_while_memcached_is_down_is_published_when_it_is_back(
    memcached_server, stamp_on, tenants, client
):
    stamp_on(memcached_alias(memcached_server))
    assert_serving(client)
    memcached_server.kill()
    tenants.is_active = False
    tenants.save()
    assert whoami(client, "acme.example.com") == (404, None)
    memcached_server.start()
    wait_until(lambda: _stamp.pending_stamp() is None, RECOVERY, "pending stamp published")
    assert _stamp.read_stamp() is not None


def get(port, host, timeout):
    """(status, tenant id or None, seconds) of GET /whoami/ on the uvicorn at ``port``."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/whoami/", headers={"Host": host})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())["request"], time.monotonic() - start
    except urllib.error.HTTPError as exc:
        return exc.code, None, time.monotonic() - start


@pytest.fixture
def uvicorn(memcached_server, stamp_on):
    env = stamp_on(memcached_alias(memcached_server))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.rig_site:application", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up():
        try:
            return get(port, "example.com", 1)[0] == 200
        except OSError:
            return False

    try:
        wait_until(up, 20, "uvicorn answering")
        yield port
    finally:
        memcached_server.resume()
        kill(process)


def test_black_holed_stamp_cache_does_not_stall_uvicorn(memcached_server, uvicorn, tenants):
    assert get(uvicorn, "acme.example.com", 2)[:2] == (200, "acme")
    memcached_server.pause()
    try:
        tenant_answers = []
        tenant_request = threading.Thread(
            target=lambda: tenant_answers.append(get(uvicorn, "acme.example.com", 5))
        )
        tenant_request.start()
        status, tenant, seconds = get(uvicorn, "example.com", 5)
        assert (status, tenant) == (200, None)
        assert seconds < 1.0
        tenant_request.join(10)
        assert tenant_answers[0][:2] == (200, "acme")
        assert get(uvicorn, "globex.example.com", 2)[:2] == (200, "globex")
    finally:
        memcached_server.resume()
    Tenant.objects.filter(tenant_id="acme").update(is_active=False)
    _stamp.publish_stamp(uuid.uuid4().hex)
    wait_until(lambda: get(uvicorn, "acme.example.com", 2)[0] == 404, RECOVERY, "change seen")
