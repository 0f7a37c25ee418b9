import pytest

from tests.testapp.models import Domain, Tenant


@pytest.fixture(autouse=True)
def _cold_lookups(fresh_lookups):
    """Every command test starts (and leaves) with cold tenant lookups."""


@pytest.fixture
def tenants(db):
    """Three active tenants and an inactive one, created out of id order."""
    made = {
        tenant_id: Tenant.objects.create(
            tenant_id=tenant_id, name=tenant_id.title(), is_active=active
        )
        for tenant_id, active in [
            ("hooli", True),
            ("acme", True),
            ("initech", False),
            ("globex", True),
        ]
    }
    Domain.objects.create(domain="acme.example.com", tenant=made["acme"], is_primary=False)
    Domain.objects.create(domain="shop.acme.io", tenant=made["acme"], is_primary=True)
    return made


@pytest.fixture
def record(tmp_path):
    """A file the show_tenant command appends each tenant id it ran for to."""
    path = tmp_path / "record.txt"

    def read():
        return path.read_text().split() if path.exists() else []

    read.path = str(path)
    return read
