"""Wrapped commands see the tenant's schema or database and cache keys, and nothing else."""

import io

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections

from omnitenant import TenantContext
from omnitenant.isolation import database
from omnitenant.provisioning import deprovision_tenant, provision_tenant
from tests.isolation.tenants import PREFIX, sqlite_tenant
from tests.management.helpers import seen
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

DB_ALIAS = f"{PREFIX}_cmdinitech"


@pytest.fixture(scope="module")
def provisioned(django_db_setup, django_db_blocker):
    """Schema tenants cmdacme and cmdglobex and a SQLite-database tenant cmdinitech."""
    made = [
        Tenant(tenant_id="cmdacme", name="Acme"),
        Tenant(tenant_id="cmdglobex", name="Globex"),
        Tenant(
            tenant_id="cmdinitech", name="Initech", isolation_type="database", db_alias=DB_ALIAS
        ),
    ]
    with django_db_blocker.unblock():
        database.register(sqlite_tenant("cmdinitech"))
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
            provision_tenant(tenant)
        yield made
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)


@pytest.fixture
def tenants(provisioned):
    """The provisioned tenants' rows (transactional tests flush them after each test)."""
    rows = {}
    for tenant in provisioned:
        tenant.pk = None
        tenant.save()
        rows[tenant.tenant_id] = tenant
    yield rows
    for tenant in rows.values():
        with TenantContext.use_tenant(tenant):
            Note.objects.all().delete()


def tenant_command(*args, **options):
    out = io.StringIO()
    call_command("tenant_command", *args, stdout=out, **options)
    return out.getvalue()


def test_wrapped_command_sees_the_schema_the_alias_and_the_cache_prefix(tenants):
    [acme] = seen(tenant_command("show_tenant", tenant="cmdacme"))
    [initech] = seen(tenant_command("show_tenant", tenant="cmdinitech"))
    assert (acme["tenant"], acme["schema"], acme["db_alias"]) == ("cmdacme", "cmdacme", "default")
    assert (initech["tenant"], initech["db_alias"]) == ("cmdinitech", DB_ALIAS)
    assert acme["cache_key"] == cache.make_key("cmdacme:k")
    assert initech["cache_key"] == cache.make_key("cmdinitech:k")


def note_titles(tenant):
    with TenantContext.use_tenant(tenant):
        return list(Note.objects.values_list("title", flat=True))


@pytest.mark.parametrize("writer", ["cmdacme", "cmdinitech"])
def test_rows_written_by_a_wrapped_command_stay_in_its_tenant(tenants, writer, capsys):
    code = "from tests.tenantapp.models import Note; Note.objects.create(title='mine')"
    call_command("tenant_command", "shell", "-c", code, tenant=writer)
    for tenant_id, tenant in tenants.items():
        assert note_titles(tenant) == (["mine"] if tenant_id == writer else [])
    if writer == "cmdinitech":
        assert list(Note.objects.using(DB_ALIAS).values_list("title", flat=True)) == ["mine"]
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename = 'tenantapp_note'"
        )
        assert cursor.fetchone()[0] == 0


def test_cache_written_by_a_wrapped_command_stays_in_its_tenant(tenants, capsys):
    code = "from django.core.cache import cache; cache.set('k', 'acme only')"
    call_command("tenant_command", "shell", "-c", code, tenant="cmdacme")
    with TenantContext.use_tenant(tenants["cmdglobex"]):
        assert cache.get("k") is None
    assert cache.get("k") is None
    assert cache.get("cmdacme:k") == "acme only"
    cache.delete("cmdacme:k")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_all_tenants_command_runs_each_tenant_in_its_own_storage(tenants, jobs, capsys):
    code = (
        "from omnitenant import TenantContext; from tests.tenantapp.models import Note; "
        "Note.objects.create(title=TenantContext.get_tenant().tenant_id)"
    )
    call_command("all_tenants_command", "--jobs", jobs, "shell", "-c", code, stdout=io.StringIO())
    for tenant_id, tenant in tenants.items():
        assert note_titles(tenant) == [tenant_id]
