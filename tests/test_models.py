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
        ("Straße.test", "xn--strae-oqa.test"),
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


@pytest.mark.parametrize(
    "bad", ["bad host", "-acme.example.com", "", "a..b", "xn--zz.example", "☃.net"]
)
def test_invalid_domain_is_refused_and_not_saved(bad):
    tenant = Tenant.objects.create(tenant_id="acme", name="Acme")
    with pytest.raises(ValidationError):
        Domain(domain=bad, tenant=tenant).full_clean()
    with pytest.raises(ValidationError):
        Domain(domain=bad, tenant=tenant).save()
    assert not Domain.objects.exists()


@pytest.mark.parametrize("reserved", ["xn--pple-43d", "xn--", "ab--cd", "00--1"])
def test_tenant_id_with_a_reserved_label_form_is_refused(reserved):
    with pytest.raises(ValidationError) as info:
        Tenant(tenant_id=reserved, name="x").full_clean()
    [message] = info.value.message_dict["tenant_id"]
    assert message.startswith(f"Invalid tenant_id {reserved!r}: '--' in the third and fourth")
    assert "xn--" in message


def test_tenant_id_with_hyphens_elsewhere_is_accepted():
    Tenant(tenant_id="acme--eu", name="x").full_clean()
    Tenant(tenant_id="a-b-c", name="x").full_clean()


# --- which hosts a domain may claim -------------------------------------------------------


@pytest.fixture
def hooli():
    tenant = Tenant.objects.create(tenant_id="hooli", name="Hooli")
    Domain.objects.create(domain="hooli.io", tenant=tenant)
    Domain.objects.create(domain="shop.hooli.example.com", tenant=tenant)
    return tenant


@pytest.fixture
def globex():
    return Tenant.objects.create(tenant_id="globex", name="Globex")


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("hooli.example.com", "it is hooli.example.com, the host of tenant 'hooli'"),
        ("x.hooli.example.com", "it lies under hooli.example.com, the host of tenant 'hooli'"),
        ("nobody.example.com", "it is nobody.example.com, the host of tenant 'nobody'"),
        ("example.com", "it is public host 'example.com' (PUBLIC_HOSTS), served with no tenant"),
        ("www.example.com", "it is public host 'www.example.com' (PUBLIC_HOSTS), served"),
        ("a.www.example.com", "it lies under public host 'www.example.com' (PUBLIC_HOSTS)"),
        ("com", "it is a parent of BASE_DOMAIN 'example.com', whose subdomains are tenant"),
        ("hooli.io", "it is already a domain of tenant 'hooli'"),
        ("shop.hooli.io", "it lies under 'hooli.io', a domain of tenant 'hooli'"),
        ("io", "'hooli.io', a domain of tenant 'hooli', lies under it"),
    ],
)
def test_domain_of_another_tenant_or_the_public_site_is_refused(hooli, globex, domain, reason):
    with pytest.raises(ValidationError) as info:
        Domain(domain=domain, tenant=globex).full_clean()
    assert info.value.message_dict["domain"][0].startswith(
        f"{domain!r} cannot be a domain of tenant 'globex': {reason}"
    )
    assert not Domain.objects.filter(tenant=globex).exists()


@pytest.mark.parametrize(
    "domain", ["globex.example.com", "api.globex.example.com", "globex.io", "xhooli.io"]
)
def test_domain_of_its_own_is_accepted(hooli, globex, domain):
    Domain(domain=domain, tenant=globex).full_clean()


def test_domain_may_be_edited_and_share_parents_with_its_own_tenant(hooli):
    row = Domain.objects.get(domain="hooli.io")
    row.domain = "www.hooli.io"
    row.full_clean()
    Domain(domain="blog.hooli.io", tenant=hooli).full_clean()


def test_public_host_at_base_domain_leaves_subdomains_to_their_tenants(settings, globex):
    settings.OMNITENANT_CONFIG = {
        **settings.OMNITENANT_CONFIG,
        "BASE_DOMAIN": "tenants.example.com",
        "PUBLIC_HOSTS": ["example.com"],
    }
    Domain(domain="globex.tenants.example.com", tenant=globex).full_clean()
    with pytest.raises(ValidationError, match="the host of tenant 'acme'"):
        Domain(domain="acme.tenants.example.com", tenant=globex).full_clean()
    with pytest.raises(ValidationError, match=r"under public host 'example\.com'"):
        Domain(domain="shop.example.com", tenant=globex).full_clean()


def test_create_tenant_with_a_foreign_domain_leaves_nothing(hooli):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="the host of tenant 'hooli'"):
        call_command("create_tenant", "globex", "Globex", "--domain", "hooli.example.com")
    assert not Tenant.objects.filter(tenant_id="globex").exists()
    assert Domain.objects.filter(domain="hooli.example.com").count() == 0
