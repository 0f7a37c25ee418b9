import os

import pytest
from django.db import connections

from omnitenant.context import TenantContext
from omnitenant.exceptions import IsolationError, NoTenantActive
from omnitenant.isolation import database
from tests.isolation.tenants import PREFIX
from tests.tenantapp.models import Note
from tests.testapp.models import Tenant

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(params=["initech", "umbrella"])
def pair(request, tenants):
    """A database tenant (SQLite file or PostgreSQL database) and a schema tenant."""
    return tenants[request.param], tenants["acme"]


def test_rows_written_in_a_tenant_database_are_invisible_elsewhere(pair, tenants):
    tenant, other_schema = pair
    other_database = tenants["umbrella" if tenant.tenant_id == "initech" else "initech"]
    with TenantContext.use_tenant(tenant):
        Note.objects.create(title="secret")
        assert Note.objects.db == tenant.db_alias
    for other in (other_schema, other_database):
        with TenantContext.use_tenant(other):
            assert not Note.objects.filter(title="secret").exists()
            assert Note.objects.all().delete()[0] == 0
    with TenantContext.use_tenant(tenant):
        assert list(Note.objects.values_list("title", flat=True)) == ["secret"]
    with pytest.raises(NoTenantActive):
        Note.objects.count()


def test_tenant_databases_hold_only_tenant_apps(initech, umbrella):
    for tenant in (initech, umbrella):
        tables = connections[tenant.db_alias].introspection.table_names()
        assert "tenantapp_note" in tables
        assert "testapp_tenant" not in tables
        assert "auth_user" not in tables


def test_sqlite_tenant_is_one_file_named_from_the_template(initech):
    path = connections[initech.db_alias].settings_dict["NAME"]
    assert os.path.basename(path) == f"{PREFIX}_initech.sqlite3"
    assert os.path.exists(path)


def test_shared_models_are_readable_inside_a_database_tenant(initech, umbrella):
    Tenant.objects.create(tenant_id="initech", name="Initech")
    for tenant in (initech, umbrella):
        with TenantContext.use_tenant(tenant):
            assert Tenant.objects.db == "default"
            assert Tenant.objects.get().name == "Initech"


def test_database_tenant_without_an_alias_of_its_own_is_refused(initech):
    for alias in (None, "", "default"):
        tenant = Tenant(tenant_id="nodb", isolation_type="database", db_alias=alias)
        with TenantContext.use_tenant(tenant), pytest.raises(IsolationError, match="db_alias"):
            Note.objects.count()


def test_runtime_alias_settings_are_validated_without_leaking_secrets():
    secret = "hunter2-very-secret"
    bad = [
        ({"ENGINE": "django.db.backends.sqlite3"}, "need an ENGINE and a NAME"),
        ({"ENGINE": "no.such.backend", "NAME": "x", "PASSWORD": secret}, "is not usable"),
        ({"ENGINE": "django.db.backends.sqlite3", "NAME": "x", "PASWORD": secret}, "unknown keys"),
        ("sqlite:///x", "must be a dict"),
    ]
    for raw, message in bad:
        with pytest.raises(IsolationError, match=message) as info:
            database.register_alias(f"{PREFIX}_bad", raw)
        assert secret not in str(info.value)
    assert f"{PREFIX}_bad" not in connections.settings
    with pytest.raises(IsolationError, match="alias 'a b' is invalid"):
        database.register_alias("a b", {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"})


def test_an_alias_cannot_be_registered_twice_with_other_settings(initech):
    with pytest.raises(IsolationError, match="already registered with other connection settings"):
        database.register_alias(
            initech.db_alias, {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/other.db"}
        )


def test_unknown_alias_without_settings_says_what_to_do(settings):
    config = {**settings.OMNITENANT_CONFIG}
    del config["TENANT_DATABASE"]
    settings.OMNITENANT_CONFIG = config
    tenant = Tenant(tenant_id="lost", isolation_type="database", db_alias=f"{PREFIX}_lost")
    with (
        TenantContext.use_tenant(tenant),
        pytest.raises(IsolationError, match="not in DATABASES, and no connection settings"),
    ):
        Note.objects.count()
