"""Commands that take --database reach a tenant's own database; migrate migrates each tenant."""

import io

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test import override_settings

from omnitenant.isolation import database
from omnitenant.provisioning import deprovision_tenant, provision_tenant
from tests.isolation.tenants import PREFIX, sqlite_tenant
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

DB_ALIAS = f"{PREFIX}_mginitech"
EXTRA = override_settings(MIGRATION_MODULES={"tenantapp": "tests.management.extra_migrations"})


@pytest.fixture(scope="module")
def provisioned(django_db_setup, django_db_blocker):
    """Schema tenants mgacme and mgglobex and a SQLite-database tenant mginitech.

    tests.management.extra_migrations is tenantapp's migrations plus a 0003 none has."""
    made = [
        Tenant(tenant_id="mgacme", name="Acme"),
        Tenant(tenant_id="mgglobex", name="Globex"),
        Tenant(tenant_id="mginitech", name="Initech", isolation_type="database", db_alias=DB_ALIAS),
    ]
    with django_db_blocker.unblock():
        database.register(sqlite_tenant("mginitech"))
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
            provision_tenant(tenant)
        yield made
        for tenant in made:
            deprovision_tenant(tenant, drop_data=True)


@pytest.fixture
def tenants(provisioned):
    """The tenants' rows, each tenant back at tenantapp 0002 (the extra 0003 not applied)."""
    from omnitenant.provisioning import migrate_tenant

    rows = {}
    for tenant in provisioned:
        tenant.pk = None
        tenant.save()
        rows[tenant.tenant_id] = tenant
    with EXTRA:
        for tenant in provisioned:
            migrate_tenant(tenant, app_label="tenantapp", migration_name="0002", verbosity=0)
            assert not has_label_table(tenant)
        yield rows


def has_label_table(tenant):
    if tenant.isolation_type == "database":
        with connections[DB_ALIAS].cursor() as cursor:
            return "tenantapp_label" in connections[DB_ALIAS].introspection.table_names(cursor)
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = %s",
            [tenant.tenant_id, "tenantapp_label"],
        )
        return cursor.fetchone()[0] == 1


def public_has_label_table():
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename = 'tenantapp_label'"
        )
        return cursor.fetchone()[0] == 1


def run(*args, **options):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out, **options)
    return out.getvalue()


@pytest.mark.parametrize("tenant_id", ["mgacme", "mginitech"])
def test_tenant_command_migrate_migrates_the_tenant(tenants, tenant_id):
    output = run("tenant_command", "migrate", tenant=tenant_id)
    assert "Applying tenantapp.0003_label... OK" in output
    assert [has_label_table(tenant) for tenant in tenants.values()] == [
        tid == tenant_id for tid in tenants
    ]
    assert not public_has_label_table()
    again = run("tenant_command", "migrate", tenant=tenant_id)
    assert "No migrations to apply." in again


def test_all_tenants_command_migrate_migrates_every_tenant(tenants):
    output = run("all_tenants_command", "migrate")
    assert output.count("Applying tenantapp.0003_label...") == 3
    assert "migrate: 3 ok, 0 failed of 3 tenants" in output
    assert all(has_label_table(tenant) for tenant in tenants.values())
    assert not public_has_label_table()


@pytest.mark.parametrize("tenant_id", ["mgacme", "mginitech"])
def test_migrate_options_pass_through(tenants, tenant_id):
    output = run("tenant_command", "migrate", "tenantapp", "--plan", tenant=tenant_id)
    kind = "database" if tenant_id == "mginitech" else "schema"
    assert (
        f"[{kind}:{tenant_id}] Planned operations:\n"
        f"[{kind}:{tenant_id}] tenantapp.0003_label\n"
        f"[{kind}:{tenant_id}]     Create model Label\n"
    ) in output
    assert not has_label_table(tenants[tenant_id])


def test_showmigrations_shows_the_tenants_own_state(tenants):
    run("tenant_command", "migrate", tenant="mginitech")
    shown = run("tenant_command", "showmigrations", "tenantapp", tenant="mginitech")
    assert " [X] 0003_label" in shown
    assert " [ ] 0003_label" in run(
        "tenant_command", "showmigrations", "tenantapp", tenant="mgacme"
    )


def test_an_explicit_database_that_misses_the_tenants_data_is_refused(tenants):
    with pytest.raises(CommandError) as info:
        run("tenant_command", "showmigrations", "--database", "default", tenant="mginitech")
    assert str(info.value) == (
        "showmigrations --database default inside tenant 'mginitech' would miss its data, "
        f"which is in database {DB_ALIAS!r}; drop --database (inside a tenant it is "
        f"{DB_ALIAS!r})."
    )
    with pytest.raises(CommandError) as info:
        run("all_tenants_command", "migrate", f"--database={DB_ALIAS}")
    assert str(info.value) == (
        f"all_tenants_command runs migrate on each tenant's own database; drop --database "
        f"{DB_ALIAS}."
    )
    assert not any(has_label_table(tenant) for tenant in tenants.values())


def test_the_tenants_own_database_may_be_named(tenants):
    run("tenant_command", "migrate", "--database", DB_ALIAS, tenant="mginitech")
    assert has_label_table(tenants["mginitech"])


def test_migrate_for_a_tenant_that_is_not_provisioned_fails(tenants):
    Tenant.objects.create(tenant_id="mgnew", name="New")
    with pytest.raises(CommandError) as info:
        run("tenant_command", "migrate", tenant="mgnew")
    assert "Tenant 'mgnew' is not provisioned" in str(info.value)
    out = io.StringIO()
    with pytest.raises(CommandError, match="migrate failed for 1 of 4 tenants: mgnew"):
        call_command("all_tenants_command", "migrate", stdout=out, stderr=out)
    assert "mgnew ... FAILED" in out.getvalue()
    assert " ok " not in out.getvalue().split("mgnew ...")[1].splitlines()[0]


def test_dumpdata_dumps_the_database_tenants_rows(tenants):
    from omnitenant import TenantContext
    from tests.tenantapp.models import Note

    with TenantContext.use_tenant(tenants["mginitech"]):
        Note.objects.create(title="initech's own")
    dumped = run("tenant_command", "dumpdata", "tenantapp.note", tenant="mginitech")
    assert '"title": "initech\'s own"' in dumped


def test_command_line_migrate_migrates_the_database_tenant(tenants, capsys):
    ManagementUtility(["manage.py", "tenant_command", "migrate", "--tenant", "mginitech"]).execute()
    assert "Applying tenantapp.0003_label... OK" in capsys.readouterr().out
    assert has_label_table(tenants["mginitech"])


def test_command_line_refusal_exits_1_with_the_message(tenants, capsys):
    argv = ["manage.py", "tenant_command", "flush", "--database=default", "--tenant=mginitech"]
    with pytest.raises(SystemExit) as info:
        ManagementUtility(argv).execute()
    assert info.value.code == 1
    assert capsys.readouterr().err == (
        "CommandError: flush --database default inside tenant 'mginitech' would miss its data, "
        f"which is in database {DB_ALIAS!r}; drop --database (inside a tenant it is "
        f"{DB_ALIAS!r}).\n"
    )
