import pytest
from django.core.exceptions import ValidationError

from omnitenant import TenantContext
from tests.testapp.models import Domain, Tenant

pytestmark = pytest.mark.django_db


def test_tenant_is_activatable_and_prints_its_id():
    tenant = Tenant.objects.create(tenant_id="acme", name="Acme")
    assert str(tenant) == "acme"
    with TenantContext.use_tenant(tenant):
        assert TenantContext.get_tenant().tenant_id == "acme"
        assert TenantContext.get_db_alias() == "default"


@pytest.mark.parametrize("bad", ["a:b", "Acme", "pg_x", "a" * 64, "*", "-x"])
def test_tenant_id_validator(bad):
    with pytest.raises(ValidationError) as info:
        Tenant(tenant_id=bad, name="x").full_clean()
    assert "tenant_id" in info.value.message_dict


def test_database_isolation_needs_db_alias():
    with pytest.raises(ValidationError) as info:
        Tenant(tenant_id="acme", name="Acme", isolation_type="database").full_clean()
    assert info.value.message_dict["db_alias"] == [
        "A tenant with database isolation needs a db_alias."
    ]


def test_active_queryset():
    Tenant.objects.create(tenant_id="acme", name="Acme")
    Tenant.objects.create(tenant_id="old", name="Old", is_active=False)
    assert [t.tenant_id for t in Tenant.objects.active()] == ["acme"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ACME.Example.com", "acme.example.com"),
        ("acme.example.com:8000", "acme.example.com"),
        ("acme.example.com.", "acme.example.com"),
        ("  shop.acme.io ", "shop.acme.io"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_domain_is_normalised(given, stored):
    tenant = Tenant.objects.create(tenant_id="acme", name="Acme")
    domain = Domain(domain=given, tenant=tenant)
    domain.full_clean()
    domain.save()
    domain.refresh_from_db()
    assert domain.domain == stored
    assert str(domain) == stored
    assert list(tenant.domains.all()) == [domain]


@pytest.mark.parametrize("bad", ["bad host", "-acme.example.com", "", "a..b"])
def test_invalid_domain_is_refused_and_not_saved(bad):
    tenant = Tenant.objects.create(tenant_id="acme", name="Acme")
    with pytest.raises(ValidationError):
        Domain(domain=bad, tenant=tenant).full_clean()
    with pytest.raises(ValidationError):
        Domain(domain=bad, tenant=tenant).save()
    assert not Domain.objects.exists()
