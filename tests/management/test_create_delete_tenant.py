import io
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.db.models.signals import post_migrate
from django_tenants.utils import schema_exists

from omnitenant import TenantContext
from omnitenant.exceptions import InvalidTenantId, TenantNotFound
from omnitenant.isolation import database
from omnitenant.isolation import schema as schema_isolation
from omnitenant.provisioning import deprovision_tenant, kept_data
from tests.isolation.tenants import PREFIX, sqlite_tenant
from tests.tenantapp.models import Note
from tests.testapp.models import Domain, Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

SQLITE_ALIAS = f"{PREFIX}_cmdpied"


@pytest.fixture(scope="module", autouse=True)
def sqlite_alias(django_db_setup, django_db_blocker):
    """Register the SQLite tenant's alias before the test cases start, so they may query it."""
    tenant = sqlite_tenant("cmdpied")
    with django_db_blocker.unblock():
        deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
        database.register(tenant)
        yield
        deprovision_tenant(tenant, drop_data=True)


@pytest.fixture(autouse=True)
def drop_schemas():
    yield
    for tenant_id in ("hooli", "acme"):
        deprovision_tenant(_schema(tenant_id), drop_data=True)


def _schema(tenant_id):
    return Tenant(tenant_id=tenant_id, name=tenant_id, isolation_type="schema")


def command(name, *args, **options):
    out = io.StringIO()
    call_command(name, *args, stdout=out, **options)
    return out.getvalue()


def test_create_tenant_creates_row_domains_and_migrated_schema():
    output = command(
        "create_tenant", "hooli", "Hooli", "--domain", "hooli.example.com", "--domain", "hooli.io"
    )
    assert "Created tenant 'hooli' (schema isolation, its schema)." in output
    tenant = Tenant.objects.get(tenant_id="hooli")
    assert (tenant.name, tenant.isolation_type, tenant.is_active) == ("Hooli", "schema", True)
    assert list(Domain.objects.filter(tenant=tenant).values_list("domain", "is_primary")) == [
        ("hooli.example.com", True),
        ("hooli.io", False),
    ]
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="hooli's")
        assert Note.objects.count() == 1


def test_create_tenant_no_migrate_creates_an_empty_schema():
    command("create_tenant", "hooli", "Hooli", "--no-migrate")
    assert schema_exists("hooli")
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'hooli'")
        assert cursor.fetchone()[0] == 0


def test_create_tenant_with_its_own_database():
    output = command(
        "create_tenant", "cmdpied", "Pied", "--isolation", "database", "--db-alias", SQLITE_ALIAS
    )
    assert f"Created tenant 'cmdpied' (database isolation, {SQLITE_ALIAS})." in output
    path = connections[SQLITE_ALIAS].settings_dict["NAME"]
    assert os.path.exists(path)
    try:
        command("delete_tenant", "cmdpied", "--noinput", "--drop-data")
        assert not os.path.exists(path)
        assert not Tenant.objects.filter(tenant_id="cmdpied").exists()
    finally:
        database.register(sqlite_tenant("cmdpied"))  # the next test case may query it


# Bad input: refused, and nothing half-created.


def nothing_created(tenant_id="hooli"):
    return (
        not Tenant.objects.filter(tenant_id=tenant_id).exists()
        and not Domain.objects.filter(domain__startswith=tenant_id).exists()
        and not schema_exists(tenant_id)
    )


def test_create_tenant_refuses_an_invalid_id():
    with pytest.raises(InvalidTenantId, match=r"^Invalid tenant_id 'Hooli!': use 1-63"):
        command("create_tenant", "Hooli!", "Hooli")
    assert not Tenant.objects.exists()


def test_create_tenant_refuses_an_existing_id():
    Tenant.objects.create(tenant_id="hooli", name="Hooli")
    with pytest.raises(CommandError, match=r"^Tenant 'hooli' already exists; see manage.py list"):
        command("create_tenant", "hooli", "Other")
    assert Tenant.objects.get(tenant_id="hooli").name == "Hooli"


def test_create_tenant_refuses_a_taken_domain_and_creates_nothing():
    acme = Tenant.objects.create(tenant_id="acme", name="Acme")
    Domain.objects.create(domain="shared.io", tenant=acme)
    taken = r"^Cannot create tenant 'hooli': domain: .*already a domain of tenant 'acme'"
    with pytest.raises(CommandError, match=taken):
        command(
            "create_tenant",
            "hooli",
            "Hooli",
            "--domain",
            "hooli.io",
            "--domain",
            "shared.io",
        )
    assert nothing_created()


def test_create_tenant_database_isolation_needs_an_alias():
    with pytest.raises(CommandError, match=r"^Cannot create tenant 'hooli': db_alias: "):
        command("create_tenant", "hooli", "Hooli", "--isolation", "database")
    assert nothing_created()


def test_create_tenant_failing_migration_leaves_nothing():
    def fail(**kwargs):
        raise RuntimeError("post_migrate failed")

    post_migrate.connect(fail, dispatch_uid="cmd-boom")
    try:
        with pytest.raises(CommandError, match=r"^Cannot create tenant 'hooli': Provisioning"):
            command("create_tenant", "hooli", "Hooli", "--domain", "hooli.io")
    finally:
        post_migrate.disconnect(dispatch_uid="cmd-boom")
    assert nothing_created()


# delete_tenant


def make_hooli():
    command("create_tenant", "hooli", "Hooli", "--domain", "hooli.io")
    tenant = Tenant.objects.get(tenant_id="hooli")
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="kept")
    return tenant


def test_delete_tenant_keeps_the_data_aside_by_default():
    make_hooli()
    output = command("delete_tenant", "hooli", "--noinput")
    [kept] = [row for row in kept_data() if row["tenant_id"] == "hooli"]
    try:
        assert output == (
            f"Deleted tenant 'hooli'; its schema 'hooli' was kept as {kept['name']!r} (see "
            "manage.py list_tenants --kept).\n"
        )
        assert not Tenant.objects.filter(tenant_id="hooli").exists()
        assert not Domain.objects.filter(domain="hooli.io").exists()
        assert not schema_exists("hooli")
        assert kept["name"] in command("list_tenants", "--kept")
    finally:
        schema_isolation.drop_named(kept["name"])


def test_delete_tenant_drop_data_drops_the_schema():
    make_hooli()
    command("delete_tenant", "hooli", "--noinput", "--drop-data")
    assert nothing_created()


def test_delete_tenant_asks_for_the_id_and_changes_nothing_without_it(monkeypatch):
    make_hooli()
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "yes")
    with pytest.raises(CommandError, match=r"^Deletion of tenant 'hooli' cancelled; nothing"):
        command("delete_tenant", "hooli", "--drop-data")
    assert prompts == [
        "Delete tenant 'hooli' (Hooli) and its domains? Its schema 'hooli' will be DROPPED with "
        "all its rows. Type the tenant id to confirm: "
    ]
    tenant = Tenant.objects.get(tenant_id="hooli")
    with TenantContext.use_tenant(tenant):
        assert Note.objects.count() == 1
    monkeypatch.setattr("builtins.input", lambda prompt: "hooli")
    command("delete_tenant", "hooli", "--drop-data")
    assert nothing_created()


def test_delete_tenant_unknown_tenant_suggests_and_deletes_nothing():
    make_hooli()
    with pytest.raises(TenantNotFound, match=r"^No tenant 'hooly'; did you mean 'hooli'\?"):
        command("delete_tenant", "hooly", "--noinput", "--drop-data")
    assert Tenant.objects.filter(tenant_id="hooli").exists()
    assert schema_exists("hooli")
