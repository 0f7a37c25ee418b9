"""Four tenants provisioned for the session: two schemas, a SQLite and a PostgreSQL database."""

import pytest

from omnitenant.context import TenantContext
from omnitenant.provisioning import deprovision_tenant, provision_tenant
from tests.isolation.tenants import postgres_tenant, schema_tenant, sqlite_tenant
from tests.tenantapp.models import Note


@pytest.fixture(scope="session")
def tenants(django_db_setup, django_db_blocker):
    """acme, globex (schemas), initech (SQLite file) and umbrella (PostgreSQL database)."""
    made = {
        "acme": schema_tenant("acme"),
        "globex": schema_tenant("globex"),
        "initech": sqlite_tenant("initech"),
        "umbrella": postgres_tenant("umbrella"),
    }
    with django_db_blocker.unblock():
        for tenant in made.values():
            deprovision_tenant(tenant, drop_data=True)  # left over by an interrupted run
            provision_tenant(tenant)
        yield made
        for tenant in made.values():
            deprovision_tenant(tenant, drop_data=True)


@pytest.fixture
def acme(tenants):
    return tenants["acme"]


@pytest.fixture
def globex(tenants):
    return tenants["globex"]


@pytest.fixture
def initech(tenants):
    return tenants["initech"]


@pytest.fixture
def umbrella(tenants):
    return tenants["umbrella"]


@pytest.fixture
def wipe_notes(tenants, django_db_blocker):
    """For tests whose threads commit: delete every tenant's notes afterwards."""
    yield
    with django_db_blocker.unblock():
        for tenant in tenants.values():
            with TenantContext.use_tenant(tenant):
                Note.objects.all().delete()
