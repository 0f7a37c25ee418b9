"""With contenttypes in TENANT_APPS, each schema tenant has its own content types and ids."""

import threading

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.test import override_settings

from omnitenant.context import TenantContext
from omnitenant.patches.contenttypes import TenantContentTypeCache
from omnitenant.provisioning import deprovision_tenant, provision_tenant
from tests.isolation.tenants import schema_tenant, sqlite_tenant

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = {
    **settings.OMNITENANT_CONFIG,
    "TENANT_APPS": ["tenantapp", "contenttypes"],
    "SHARED_APPS": ["contenttypes"],  # auth, in public, points at public's content types
}


@pytest.fixture(scope="module")
def tenant_contenttypes(django_db_setup, django_db_blocker):
    """Two schema tenants with contenttypes inside; ("probe", "a") has another id in each."""
    acme, globex = schema_tenant("ctacme"), schema_tenant("ctglobex")
    with override_settings(OMNITENANT_CONFIG=CONFIG), django_db_blocker.unblock():
        for tenant, models in ((acme, ["a", "b"]), (globex, ["b", "a"])):
            deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
            provision_tenant(tenant)
            with TenantContext.use_tenant(tenant):
                for model in models:
                    ContentType.objects.create(app_label="probe", model=model)
    ContentType.objects.clear_cache()
    yield acme, globex
    with override_settings(OMNITENANT_CONFIG=CONFIG), django_db_blocker.unblock():
        for tenant in (acme, globex):
            deprovision_tenant(tenant, drop_data=True)
    ContentType.objects.clear_cache()


def test_two_threads_in_two_tenants_read_their_own_content_type_ids(tenant_contenttypes):
    acme, globex = tenant_contenttypes
    with override_settings(OMNITENANT_CONFIG=CONFIG):
        with TenantContext.use_tenant(acme):
            acme_id = ContentType.objects.filter(app_label="probe", model="a").get().id
        with TenantContext.use_tenant(globex):
            globex_id = ContentType.objects.filter(app_label="probe", model="a").get().id
        assert acme_id != globex_id
        ContentType.objects.clear_cache()
        turn = threading.Barrier(2, timeout=10)
        seen, errors = {}, []

        def work(tenant):
            try:
                with TenantContext.use_tenant(tenant):
                    connections["default"].ensure_connection()
                    turn.wait()  # both threads are in their tenant now
                    if tenant is globex:
                        turn.wait()  # acme fills the cache first
                    by_key = ContentType.objects.get_by_natural_key("probe", "a")
                    seen[tenant.tenant_id] = (by_key.id, ContentType.objects.get_for_id(by_key.id))
                    if tenant is acme:
                        turn.wait()
                    turn.wait()  # acme stays in its tenant until globex has read
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
                turn.abort()
            finally:
                connections.close_all()

        threads = [threading.Thread(target=work, args=(t,)) for t in (acme, globex)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert seen["ctacme"][0] == acme_id
    assert seen["ctglobex"][0] == globex_id
    assert seen["ctglobex"][1].model == "a"


def test_the_cache_is_keyed_per_tenant_only_for_a_tenant_app():
    cache = ContentType.objects._cache
    assert isinstance(cache, TenantContentTypeCache)  # installed when the app is ready
    assert ContentType._default_manager._cache is cache
    # Database tenants: activating them leaves the default connection (and so
    # django-tenants, which clears this cache at each schema switch) alone.
    acme, globex = sqlite_tenant("acme"), sqlite_tenant("globex")
    ContentType.objects.clear_cache()
    try:
        with override_settings(OMNITENANT_CONFIG=CONFIG):
            with TenantContext.use_tenant(acme):
                cache.setdefault("default", {})["probe"] = "acme's"
            with TenantContext.use_tenant(globex):
                assert "default" not in cache
                assert cache.get("default") is None
            assert "default" not in cache
        # contenttypes shared (the test settings): one cache for every tenant, as Django has.
        with TenantContext.use_tenant(globex):
            cache.setdefault("default", {})["probe"] = "shared"
        with TenantContext.use_tenant(acme):
            assert cache["default"]["probe"] == "shared"
    finally:
        ContentType.objects.clear_cache()
