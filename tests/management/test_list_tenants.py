import io
import json

from django.core.management import call_command

from tests.testapp.models import Tenant


def list_tenants(**options):
    out = io.StringIO()
    call_command("list_tenants", stdout=out, **options)
    return out.getvalue()


def test_table_lists_every_tenant_in_id_order(tenants):
    Tenant.objects.create(
        tenant_id="umbrella", name="Umbrella Corp", isolation_type="database", db_alias="other"
    )
    assert list_tenants().splitlines() == [
        "ID        NAME           ISOLATION         DOMAINS                         ACTIVE"
        "  PROVISIONED",
        "acme      Acme           schema            shop.acme.io, acme.example.com  yes     no",
        "globex    Globex         schema            -                               yes     no",
        "hooli     Hooli          schema            -                               yes     no",
        "initech   Initech        schema            -                               no      no",
        "umbrella  Umbrella Corp  database (other)  -                               yes     no",
    ]


def test_json_format(tenants):
    rows = json.loads(list_tenants(format="json"))
    assert [row["tenant_id"] for row in rows] == ["acme", "globex", "hooli", "initech"]
    assert rows[0] == {
        "tenant_id": "acme",
        "name": "Acme",
        "isolation_type": "schema",
        "db_alias": None,
        "cache_alias": None,
        "domains": ["shop.acme.io", "acme.example.com"],
        "is_active": True,
        "provisioned": False,
    }
    assert rows[3]["is_active"] is False


def test_no_tenants(db):
    assert list_tenants() == "No tenants.\n"
    assert json.loads(list_tenants(format="json")) == []
