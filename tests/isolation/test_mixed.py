"""acme and globex in schemas, initech and umbrella in databases: one project, four tenants."""

import pytest
from django.db import connection

from omnitenant.context import TenantContext
from tests.isolation.tenants import PREFIX
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(databases="__all__")


def titles():
    return sorted(Note.objects.values_list("title", flat=True))


def test_each_tenant_sees_only_its_own_rows(tenants):
    for tenant in tenants.values():
        with TenantContext.use_tenant(tenant):
            Note.objects.create(title=f"{tenant.tenant_id} note")
    for tenant in tenants.values():
        with TenantContext.use_tenant(tenant):
            assert titles() == [f"{tenant.tenant_id} note"]


def fail_inside(tenant, expected):
    with TenantContext.use_tenant(tenant):
        assert titles() == expected
        raise RuntimeError("inner")


def test_nested_contexts_across_strategies_restore_the_outer_tenant(acme, globex, initech):
    with TenantContext.use_tenant(acme):
        Note.objects.create(title="acme")
        with TenantContext.use_tenant(initech):
            assert connection.schema_name == "public"
            Note.objects.create(title="initech")
            with TenantContext.use_tenant(globex):
                assert titles() == []
            assert titles() == ["initech"]
            with pytest.raises(RuntimeError, match="inner"):
                fail_inside(acme, ["acme"])
            assert Note.objects.db == initech.db_alias
            assert titles() == ["initech"]
        assert connection.schema_name == "acme"
        assert titles() == ["acme"]
    assert connection.schema_name == "public"


def test_model_rows_of_both_strategies_in_one_project():
    # Tenant rows, as a project has them: initech's alias comes from TENANT_DATABASE.
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    initech = Tenant.objects.create(
        tenant_id="initech", name="Initech", isolation_type="database", db_alias=f"{PREFIX}_initech"
    )
    with TenantContext.use_tenant(acme):
        Note.objects.create(title="from the acme row")
    with TenantContext.use_tenant(initech):
        assert titles() == []
        Note.objects.create(title="from the initech row")
    with TenantContext.use_tenant(acme):
        assert titles() == ["from the acme row"]
