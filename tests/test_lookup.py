import pytest
from django.core.cache import cache

from omnitenant import TenantContext, lookup
from tests.testapp.models import Domain, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_lookups():
    cache.clear()
    lookup.invalidate()


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


def test_other_process_change_seen_through_the_shared_stamp():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    assert lookup.tenant_by_id("acme").name == "Acme"
    # Another process renames the tenant: its rows change and it bumps the shared stamp,
    # but this process' signal handlers never run.
    Tenant.objects.filter(pk=acme.pk).update(name="Acme Corp")
    assert lookup.tenant_by_id("acme").name == "Acme"
    cache.set(lookup.STAMP_KEY, "bumped-elsewhere", None)
    assert lookup.tenant_by_id("acme").name == "Acme Corp"


def test_stamp_is_shared_whatever_tenant_is_active():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    with TenantContext.use_tenant(acme):
        assert lookup.tenant_by_id("acme") == acme
        assert lookup.tenant_by_id("globex") is None
        Tenant.objects.create(tenant_id="globex", name="Globex")
    assert lookup.tenant_by_id("globex").tenant_id == "globex"


# --- one stamp read per request (perf) ----------------------------------------------------


def test_lookups_in_one_block_read_the_stamp_once(monkeypatch):
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    reads = []
    real = lookup._read_stamp
    monkeypatch.setattr(lookup, "_read_stamp", lambda: reads.append(1) or real())
    with lookup.stamp_read_once():
        assert reads == []  # nothing looked up yet: the shared store is not read
        assert lookup.tenant_by_domain("acme.example.com") is None
        assert lookup.tenant_by_id("acme") == acme
        assert lookup.tenant_by_id("acme") == acme
    assert len(reads) == 1
    assert lookup.tenant_by_id("acme") == acme
    assert len(reads) == 2


def test_change_made_elsewhere_during_a_block_is_seen_after_it():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    with lookup.stamp_read_once():
        assert lookup.tenant_by_id("acme").name == "Acme"
        Tenant.objects.filter(pk=acme.pk).update(name="Acme Corp")
        cache.set(lookup.STAMP_KEY, "bumped-elsewhere", None)
    with lookup.stamp_read_once():
        assert lookup.tenant_by_id("acme").name == "Acme Corp"


def test_a_block_inside_a_tenant_reads_the_shared_stamp():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    assert lookup.tenant_by_id("acme").name == "Acme"
    Tenant.objects.filter(pk=acme.pk).update(name="Acme Corp")
    cache.set(lookup.STAMP_KEY, "bumped-elsewhere", None)
    with TenantContext.use_tenant(acme), lookup.stamp_read_once():
        assert lookup.tenant_by_id("acme").name == "Acme Corp"


def test_row_read_while_a_change_lands_is_not_cached():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    globex = Tenant.objects.create(tenant_id="globex", name="Globex")
    domain = Domain.objects.create(domain="shop.example.org", tenant=acme)
    lookup.tenant_by_domain("warm.example.org")  # the stamp is known before the race

    def slow_old_read():
        # This thread read the old row; meanwhile another process moved the domain and
        # bumped the stamp, and a second thread here saw the new stamp.
        Domain.objects.filter(pk=domain.pk).update(tenant=globex)
        cache.set(lookup.STAMP_KEY, "moved-elsewhere", None)
        lookup._cache.check_stamp()
        return acme

    assert lookup._cache.get(("domain", "shop.example.org"), slow_old_read) == acme
    assert lookup.tenant_by_domain("shop.example.org") == globex
