import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings

import pytest
from django.core.cache import caches

from omnitenant import TenantContext, lookup
from omnitenant.lookup import _stamp
from tests.testapp.models import Domain, Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_lookups")]


def test_lookups_by_id_and_domain():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    Domain.objects.create(domain="shop.acme.io", tenant=acme)
    assert lookup.tenant_by_id("acme") == acme
    assert lookup.tenant_by_domain("shop.acme.io") == acme
    assert lookup.tenant_by_id("globex") is None
    assert lookup.tenant_by_domain("nobody.io") is None


def test_warm_lookups_make_no_query(django_assert_num_queries):
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    Domain.objects.create(domain="shop.acme.io", tenant=acme)
    lookup.tenant_by_id("acme")
    lookup.tenant_by_domain("shop.acme.io")
    lookup.tenant_by_id("missing")
    with django_assert_num_queries(0):
        for _ in range(50):
            assert lookup.tenant_by_id("acme") == acme
            assert lookup.tenant_by_domain("shop.acme.io") == acme
            assert lookup.tenant_by_id("missing") is None


def test_saving_a_domain_is_seen_by_the_next_lookup():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    domain = Domain.objects.create(domain="shop.example.org", tenant=acme)
    assert lookup.tenant_by_domain("shop.example.org") == acme
    domain.tenant = globex
    domain.save()
    assert lookup.tenant_by_domain("shop.example.org") == globex
    domain.delete()
    assert lookup.tenant_by_domain("shop.example.org") is None


def test_stamp_is_shared_whatever_tenant_is_active():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    with TenantContext.use_tenant(acme):
        assert lookup.tenant_by_id("acme") == acme
        assert lookup.tenant_by_id("globex") is None
        Tenant.objects.create(tenant_id="globex", name="Globex")
    assert lookup.tenant_by_id("globex").tenant_id == "globex"


# --- changes made by other processes --------------------------------------------------------
# Another process saving a tenant changes the row and moves the shared stamp; its signal
# handlers clear its own lookups, never ours. ``changed_elsewhere`` does exactly those two
# things from here, without touching this process' lookups.


def changed_elsewhere(tenant, **fields):
    Tenant.objects.filter(pk=tenant.pk).update(**fields)
    _stamp.publish_stamp(uuid.uuid4().hex)


def wait_until(condition, timeout=5.0):
    """Poll ``condition`` until it holds; fail after ``timeout`` s (far below the 60 s TTL)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def stamp_in(settings):
    """Keep the version stamp in the cache alias given (RESOLUTION_CACHE_ALIAS)."""

    def use(alias):
        settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "RESOLUTION_CACHE_ALIAS": alias}
        lookup.invalidate()

    yield use
    lookup.before_fork()


@pytest.fixture
def stamp_reads(monkeypatch):
    """Stamp reads made by lookups in this thread (not by the listener thread)."""
    reads = []
    real = _stamp.read_stamp

    def counting(alias=None):
        if threading.current_thread() is threading.main_thread():
            reads.append(alias)
        return real(alias)

    monkeypatch.setattr(_stamp, "read_stamp", counting)
    return reads


def subscribed():
    return not lookup.reads_stamp()


@pytest.mark.parametrize("alias", ["memcached", "file"])
def test_shared_cache_without_push_is_read_by_the_next_lookup(stamp_in, alias):
    stamp_in(alias)
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    assert lookup.tenant_by_id("acme").name == "Acme"
    Tenant.objects.filter(pk=acme.pk).update(name="Acme Corp")
    assert lookup.tenant_by_id("acme").name == "Acme"  # cached: nothing said it changed
    changed_elsewhere(acme, name="Acme Corp")
    assert lookup.tenant_by_id("acme").name == "Acme Corp"


@pytest.mark.parametrize("alias", ["redis", "django_redis"])
def test_change_elsewhere_is_pushed_over_redis(stamp_in, stamp_reads, alias):
    stamp_in(alias)
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    wait_until(subscribed)
    assert lookup.tenant_by_id("acme").name == "Acme"
    stamp_reads.clear()
    changed_elsewhere(acme, name="Acme Corp")
    wait_until(lambda: lookup.tenant_by_id("acme").name == "Acme Corp")
    assert stamp_reads == []  # the listener told this process; no lookup read the stamp


def test_per_process_stamp_is_never_read(stamp_reads):
    # locmem (the test default): no other process can write it, so reading it is pointless.
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    for _ in range(5):
        assert lookup.tenant_by_id("acme") == acme
    acme.name = "Acme Corp"
    acme.save()
    assert lookup.tenant_by_id("acme").name == "Acme Corp"
    assert stamp_reads == []


def test_lost_subscription_falls_back_to_reading_the_stamp(stamp_in, stamp_reads):
    stamp_in("redis")
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    wait_until(subscribed)
    assert lookup.tenant_by_id("acme").name == "Acme"
    # The server drops the listener's connection, as a Redis restart or failover would.
    watcher = _stamp._watcher
    host, port = watcher._pubsub.connection._sock.getsockname()[:2]
    caches["redis"]._cache.get_client(write=True).client_kill(f"{host}:{port}")
    wait_until(lambda: not subscribed())
    changed_elsewhere(acme, name="Acme Corp")
    assert lookup.tenant_by_id("acme").name == "Acme Corp"  # read, not pushed
    assert stamp_reads
    wait_until(subscribed)  # and the listener is back
    stamp_reads.clear()
    changed_elsewhere(acme, name="Acme Inc")
    wait_until(lambda: lookup.tenant_by_id("acme").name == "Acme Inc")
    assert stamp_reads == []


def test_settings_change_moves_the_watcher_to_the_new_alias(stamp_in):
    stamp_in("redis")
    wait_until(subscribed)
    first = _stamp._watcher
    stamp_in("memcached")
    assert lookup.reads_stamp()  # memcached cannot push
    assert _stamp._watcher is not first
    assert _stamp._watcher.alias == "memcached"
    first._thread.join(5)
    assert not first._thread.is_alive()


def test_forked_child_listens_for_itself(stamp_in):
    stamp_in("redis")
    wait_until(subscribed)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        pid = os.fork()
    if pid == 0:  # the child: its parent's listener thread did not come along
        ok = _stamp._watcher is None and lookup.reads_stamp()
        os.write(write_end, b"1" if ok else b"0")
        os._exit(0)
    os.close(write_end)
    assert os.read(read_end, 1) == b"1"
    os.close(read_end)
    os.waitpid(pid, 0)


@pytest.mark.django_db(transaction=True)
def test_domain_moved_by_another_process_reaches_this_one(stamp_in, settings):
    from django.db import connection

    stamp_in("redis")
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    Domain.objects.create(domain="shop.example.org", tenant=acme)
    wait_until(subscribed)
    assert lookup.tenant_by_domain("shop.example.org") == acme
    code = (
        "import django\n"
        "from django.conf import settings\n"
        "settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "
        "'RESOLUTION_CACHE_ALIAS': 'redis'}\n"
        "django.setup()\n"
        "from tests.testapp.models import Domain, Tenant\n"
        "domain = Domain.objects.get(domain='shop.example.org')\n"
        "domain.tenant = Tenant.objects.get(tenant_id='globex')\n"
        "domain.save()\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "OMNITENANT_TEST_DB": connection.settings_dict["NAME"],
        "OMNITENANT_CACHE_PREFIX": settings.CACHE_TEST_PREFIX,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    wait_until(lambda: lookup.tenant_by_domain("shop.example.org") == globex)


# --- one stamp read per request, where it must be read ----------------------------------------


def test_lookups_in_one_block_read_the_stamp_once(stamp_in, stamp_reads):
    stamp_in("memcached")
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    stamp_reads.clear()
    with lookup.stamp_read_once():
        assert stamp_reads == []  # nothing looked up yet: the shared store is not read
        assert lookup.tenant_by_domain("acme.example.com") is None
        assert lookup.tenant_by_id("acme") == acme
        assert lookup.tenant_by_id("acme") == acme
    assert len(stamp_reads) == 1
    assert lookup.tenant_by_id("acme") == acme
    assert len(stamp_reads) == 2


def test_change_made_elsewhere_during_a_block_is_seen_after_it(stamp_in):
    stamp_in("memcached")
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    with lookup.stamp_read_once():
        assert lookup.tenant_by_id("acme").name == "Acme"
        changed_elsewhere(acme, name="Acme Corp")
        assert lookup.tenant_by_id("acme").name == "Acme"
    with lookup.stamp_read_once():
        assert lookup.tenant_by_id("acme").name == "Acme Corp"


def test_a_block_inside_a_tenant_reads_the_shared_stamp(stamp_in):
    stamp_in("memcached")
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    assert lookup.tenant_by_id("acme").name == "Acme"
    changed_elsewhere(acme, name="Acme Corp")
    with TenantContext.use_tenant(acme), lookup.stamp_read_once():
        assert lookup.tenant_by_id("acme").name == "Acme Corp"


def test_row_read_while_a_change_lands_is_not_cached():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    domain = Domain.objects.create(domain="shop.example.org", tenant=acme)

    def slow_old_read(host):
        # This thread read the old row; meanwhile the domain moved and this process heard
        # of it (a save here, or the listener thread for a save elsewhere).
        Domain.objects.filter(pk=domain.pk).update(tenant=globex)
        lookup._cache.adopt("moved-elsewhere")
        return acme

    assert lookup._cache.get(("domain", "shop.example.org"), slow_old_read) == acme
    assert lookup.tenant_by_domain("shop.example.org") == globex


# --- transactions --------------------------------------------------------------------------


class Rollback(Exception):
    pass


def moved_then_rolled_back(domain, tenant):
    """Move ``domain`` to ``tenant`` in atomic(); return what a lookup there saw; roll back."""
    from django.db import transaction

    seen = []
    with contextlib.suppress(Rollback), transaction.atomic():
        domain.tenant = tenant
        domain.save()
        seen.append(lookup.tenant_by_domain(domain.domain))
        raise Rollback
    return seen[0]


def lookup_in_new_thread(domain):
    from django.db import connection

    answers = []

    def run():
        try:
            answers.append(lookup.tenant_by_domain(domain))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return answers[0]


@pytest.mark.django_db(transaction=True)
def test_lookup_inside_a_rolled_back_transaction_is_not_kept():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    domain = Domain.objects.create(domain="shop.example.org", tenant=acme)
    assert lookup.tenant_by_domain("shop.example.org") == acme
    assert moved_then_rolled_back(domain, globex) == globex  # its own change
    assert lookup.tenant_by_domain("shop.example.org") == acme
    assert lookup_in_new_thread("shop.example.org") == acme


@pytest.mark.django_db(transaction=True)
def test_lookup_inside_a_rolled_back_savepoint_is_not_kept():
    from django.db import transaction

    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    domain = Domain.objects.create(domain="shop.example.org", tenant=acme)
    with transaction.atomic():
        assert moved_then_rolled_back(domain, globex) == globex
        assert lookup.tenant_by_domain("shop.example.org") == acme
    assert lookup.tenant_by_domain("shop.example.org") == acme
    assert lookup_in_new_thread("shop.example.org") == acme


@pytest.mark.django_db(transaction=True)
def test_lookups_are_cached_again_once_the_changing_transaction_commits(
    django_assert_num_queries,
):
    from django.db import transaction

    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    domain = Domain.objects.create(domain="shop.example.org", tenant=acme)
    with transaction.atomic():
        domain.tenant = globex
        domain.save()
        assert lookup.tenant_by_domain("shop.example.org") == globex
    assert lookup_in_new_thread("shop.example.org") == globex
    assert lookup.tenant_by_domain("shop.example.org") == globex
    with django_assert_num_queries(0):
        assert lookup.tenant_by_domain("shop.example.org") == globex


# --- unknown hosts ---------------------------------------------------------------------------


def test_a_flood_of_unknown_hosts_evicts_no_tenant(settings, django_assert_num_queries):
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "RESOLUTION_CACHE_SIZE": 100}
    tenants = [Tenant.objects.create(tenant_id=f"t{i}", name=f"T{i}") for i in range(50)]
    for tenant in tenants:
        assert lookup.tenant_by_id(tenant.tenant_id) == tenant
    for i in range(1_000):
        assert lookup.tenant_by_domain(f"unknown{i}.example.org") is None
        assert lookup.tenant_by_id(f"unknown{i}") is None
    with django_assert_num_queries(0):
        for tenant in tenants:
            assert lookup.tenant_by_id(tenant.tenant_id) == tenant
        assert lookup.tenant_by_id("unknown999") is None  # recent misses are still cached
