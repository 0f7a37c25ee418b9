import io
import os

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.db.models.signals import post_migrate
from django_tenants.utils import schema_exists

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, ProvisioningError
from omnitenant.isolation import database
from omnitenant.isolation import schema as schema_isolation
from omnitenant.provisioning import (
    create_tenant,
    deprovision_tenant,
    kept_data,
    migrate_all_tenants,
    migrate_shared,
    migrate_tenant,
    provision_tenant,
)
from tests.isolation.tenants import PREFIX, sqlite_tenant
from tests.tenantapp.models import Note
from tests.testapp.models import Domain, Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture
def dropped():
    """Tenants appended here have their schema or database dropped after the test."""
    made = []
    yield made
    for tenant in made:
        deprovision_tenant(tenant, drop_data=True)
        if tenant.isolation_type == "database":
            database.register(tenant)  # the next test case allows queries to it


@pytest.fixture(scope="module", autouse=True)
def aliases(django_db_setup, django_db_blocker):
    """Register the aliases before the test case starts, so that it allows queries to them."""
    tenants = [sqlite_tenant("pied"), sqlite_tenant("raviga")]
    with django_db_blocker.unblock():
        for tenant in tenants:
            deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
            database.register(tenant)
        yield
        for tenant in tenants:
            deprovision_tenant(tenant, drop_data=True)


def tables_in_schema(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [name])
        return {row[0] for row in cursor.fetchall()}


def holds_data(path):
    """True when a SQLite file is at ``path`` (an empty one is what a bare connect leaves)."""
    return os.path.exists(path) and os.path.getsize(path) > 0


class Boom(Exception):
    pass


@pytest.fixture
def failing_migration():
    """Make migrate fail after the tenant apps' tables were created (mid-provisioning)."""

    def fail(**kwargs):
        raise Boom("post_migrate failed")

    post_migrate.connect(fail, dispatch_uid="boom")
    yield
    post_migrate.disconnect(dispatch_uid="boom")


def test_create_tenant_creates_row_domains_and_a_migrated_schema(dropped):
    out = io.StringIO()
    tenant = create_tenant(
        "hooli", "Hooli", domains=["hooli.example.com", "hooli.test"], verbosity=1, stdout=out
    )
    dropped.append(tenant)
    assert Tenant.objects.get(tenant_id="hooli").name == "Hooli"
    assert list(Domain.objects.filter(tenant=tenant).values_list("domain", "is_primary")) == [
        ("hooli.example.com", True),
        ("hooli.test", False),
    ]
    assert tables_in_schema("hooli") == {"tenantapp_note", "tenantapp_comment", "django_migrations"}
    assert "[schema:hooli]" in out.getvalue()
    assert "Applying tenantapp.0001_initial... OK" in out.getvalue()
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="hooli")
        assert Note.objects.count() == 1


def test_public_schema_holds_no_tenant_tables():
    assert "tenantapp_note" not in tables_in_schema("public")
    assert "testapp_tenant" in tables_in_schema("public")


def test_create_tenant_with_a_sqlite_database(dropped):
    alias = f"{PREFIX}_pied"
    tenant = create_tenant("pied", "Pied Piper", isolation_type="database", db_alias=alias)
    dropped.append(tenant)
    path = connections[alias].settings_dict["NAME"]
    assert os.path.exists(path)
    assert "tenantapp_note" in connections[alias].introspection.table_names()
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="pied")
        assert Note.objects.count() == 1


@pytest.mark.usefixtures("failing_migration")
def test_failed_schema_provisioning_leaves_no_schema_and_no_row():
    with pytest.raises(ProvisioningError, match="Provisioning tenant 'hooli' failed") as info:
        create_tenant("hooli", "Hooli", domains=["hooli.example.com"])
    assert isinstance(info.value.__cause__, Boom)
    assert not schema_exists("hooli")
    assert not Tenant.objects.filter(tenant_id="hooli").exists()
    assert not Domain.objects.exists()


@pytest.mark.usefixtures("failing_migration")
def test_failed_sqlite_provisioning_leaves_no_file_and_no_row():
    alias = f"{PREFIX}_pied"
    with pytest.raises(ProvisioningError, match="new schema or database was dropped"):
        create_tenant("pied", "Pied Piper", isolation_type="database", db_alias=alias)
    assert not holds_data(connections.settings[alias]["NAME"])
    assert not Tenant.objects.filter(tenant_id="pied").exists()


def test_failure_before_creating_anything_creates_nothing():
    with pytest.raises(IsolationError, match="'public' cannot use schema isolation"):
        create_tenant("public", "Public")
    assert not Tenant.objects.exists()


def test_saving_a_tenant_row_provisions_nothing():
    Tenant.objects.create(tenant_id="lazy", name="Lazy")
    assert not schema_exists("lazy")


def test_deprovision_without_drop_data_moves_the_schema_out_of_reach(dropped):
    tenant = create_tenant("hooli", "Hooli")
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="kept")
    tenant.delete()
    assert deprovision_tenant(tenant) is False
    assert not schema_exists("hooli")
    [kept] = [row for row in kept_data() if row["tenant_id"] == "hooli"]
    assert kept["kind"] == "schema"
    assert kept["name"].startswith("_kept_")
    again = create_tenant("hooli", "Hooli again")  # a new tenant: nothing of the old one
    dropped.append(again)
    with TenantContext.use_tenant(again):
        assert Note.objects.count() == 0
    schema_isolation.drop_named(kept["name"])


def test_provisioning_twice_only_migrates(dropped):
    tenant = create_tenant("hooli", "Hooli")
    dropped.append(tenant)
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="still here")
    assert provision_tenant(tenant) is False
    with TenantContext.use_tenant(tenant):
        assert Note.objects.count() == 1


def test_two_tenants_cannot_share_a_database_alias(dropped):
    alias = f"{PREFIX}_pied"
    dropped.append(create_tenant("pied", "Pied", isolation_type="database", db_alias=alias))
    with pytest.raises(ValidationError, match="already uses this db_alias"):
        create_tenant("raviga", "Raviga", isolation_type="database", db_alias=alias)
    assert not Tenant.objects.filter(tenant_id="raviga").exists()


def test_migrate_tenant_and_all_tenants_name_each_tenant_in_their_output(dropped):
    hooli = create_tenant("hooli", "Hooli")
    pied = create_tenant("pied", "Pied", isolation_type="database", db_alias=f"{PREFIX}_pied")
    dropped.extend([hooli, pied])
    out = io.StringIO()
    migrate_tenant(hooli, stdout=out)
    assert "[schema:hooli] Operations to perform:" in out.getvalue()
    out = io.StringIO()
    assert migrate_all_tenants(stdout=out) == ["hooli", "pied"]
    output = out.getvalue()
    assert "[schema:hooli]" in output
    assert "[database:pied]   No migrations to apply." in output
    assert output.endswith("Migrated 2 tenant(s).\n")


def test_migrate_tenant_refuses_an_unprovisioned_tenant():
    tenant = Tenant.objects.create(tenant_id="lazy", name="Lazy")
    with pytest.raises(ProvisioningError, match="'lazy' is not provisioned"):
        migrate_tenant(tenant)
    assert not schema_exists("lazy")


def test_migrate_shared_migrates_the_public_schema():
    out = io.StringIO()
    migrate_shared(stdout=out)
    assert "[shared:public]   No migrations to apply." in out.getvalue()
