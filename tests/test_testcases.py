"""omnitenant.testing.TenantTestCase / TransactionTenantTestCase, run as unittest classes."""

import pytest
from django.db import connection
from django_tenants.utils import schema_exists

from omnitenant import TenantContext
from omnitenant.provisioning import deprovision_tenant
from omnitenant.testing import TenantTestCase, TransactionTenantTestCase
from tests.tenantapp.models import Note

SEEN = {}


def schema_oid(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [name])
        row = cursor.fetchone()
    return row and row[0]


class AcmeTests(TenantTestCase):
    tenant_id = "tcacme"

    def test_runs_inside_its_tenant_and_schema(self):
        assert TenantContext.get_tenant().tenant_id == "tcacme"
        Note.objects.create(title="acme note")
        assert connection.schema_name == "tcacme"
        assert list(Note.objects.values_list("title", flat=True)) == ["acme note"]

    def test_each_test_starts_empty(self):
        assert not Note.objects.exists()

    def test_client_reaches_the_tenant(self):
        assert self.client.get("/whoami/").json()["active"] == "tcacme"


class KeptFirst(TenantTestCase):
    tenant_id = "tckept"
    keep_tenant = True

    def test_keeps_its_schema(self):
        SEEN["first"] = schema_oid("tckept")
        assert SEEN["first"] is not None


class KeptSecond(TenantTestCase):
    tenant_id = "tckept"
    keep_tenant = True

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        deprovision_tenant(cls._provisioned_for, drop_data=True)

    def test_reuses_the_schema_of_the_first_class(self):
        # The very schema KeptFirst ran in (a new one would have a new oid).
        assert schema_oid("tckept") == SEEN["first"]


class GlobexTransactionTests(TransactionTenantTestCase):
    tenant_id = "tcglobex"

    def test_commits_inside_its_tenant(self):
        Note.objects.create(title="globex note")
        assert TenantContext.get_tenant().tenant_id == "tcglobex"
        assert self.client.get("/whoami/").json()["active"] == "tcglobex"
        assert Note.objects.count() == 1


@pytest.mark.django_db
def test_schemas_of_unkept_classes_are_dropped():
    assert not schema_exists("tcacme")
