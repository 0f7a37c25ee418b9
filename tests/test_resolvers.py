import re

import pytest
from django.test import RequestFactory

from omnitenant import lookup
from omnitenant.exceptions import TenantNotFound
from omnitenant.middleware import resolve_tenant
from omnitenant.resolvers import (
    BaseResolver,
    DomainResolver,
    HeaderResolver,
    SubdomainResolver,
    get_request_host,
    load_resolvers,
)
from omnitenant.testing import create_tenant_row
from tests.testapp.models import Domain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_lookups")]

rf = RequestFactory()


@pytest.fixture
def acme():
    return create_tenant_row("acme", domains=["shop.acme.io"])


@pytest.fixture
def globex():
    return create_tenant_row("globex", domains=["globex.io"])


@pytest.fixture
def configure(settings):
    def apply(**overrides):
        settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, **overrides}

    return apply


def request_for(host, **headers):
    return rf.get("/", headers={"host": host, **headers})


class StaticResolver(BaseResolver):
    """Always answers globex (a custom resolver for the chain-order tests)."""

    def resolve(self, request):
        return lookup.tenant_by_id("globex")


class NoOpinionResolver(BaseResolver):
    def resolve(self, request):
        return None


# --- hosts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["shop.acme.io", "SHOP.Acme.IO", "shop.acme.io:8443", "shop.acme.io.", "Shop.Acme.Io.:80"],
)
def test_hosts_are_normalised_before_lookup(acme, raw):
    request = request_for(raw)
    assert get_request_host(request) == "shop.acme.io"
    assert DomainResolver().resolve(request) == acme


def test_idn_domain_resolves_from_its_punycode_host():
    tenant = create_tenant_row("buecher", domains=["Bücher.example"])
    assert DomainResolver().resolve(request_for("xn--bcher-kva.example")) == tenant
    assert DomainResolver().resolve(request_for("XN--BCHER-KVA.example.:8000")) == tenant


def test_host_outside_allowed_hosts_is_refused_by_django(settings, acme):
    from django.core.exceptions import DisallowedHost

    settings.ALLOWED_HOSTS = [".example.com"]
    with pytest.raises(DisallowedHost):
        DomainResolver().resolve(request_for("shop.acme.io"))


def test_allowed_host_checked_before_stays_checked_after_allowed_hosts_change(settings, acme):
    from django.core.exceptions import DisallowedHost

    assert get_request_host(request_for("shop.acme.io")) == "shop.acme.io"  # remembered
    settings.ALLOWED_HOSTS = [".example.com"]
    with pytest.raises(DisallowedHost):
        get_request_host(request_for("shop.acme.io"))
    settings.ALLOWED_HOSTS = ["*"]
    assert get_request_host(request_for("shop.acme.io")) == "shop.acme.io"


def test_refused_host_is_refused_every_time(settings):
    from django.core.exceptions import DisallowedHost

    settings.ALLOWED_HOSTS = [".example.com"]
    assert get_request_host(request_for("acme.example.com")) == "acme.example.com"
    for _ in range(3):
        with pytest.raises(DisallowedHost):
            get_request_host(request_for("evil.io"))


def test_forwarded_host_is_used_only_when_django_is_told_to(settings):
    request = rf.get("/", headers={"host": "acme.example.com", "x-forwarded-host": "globex.io"})
    assert get_request_host(request) == "acme.example.com"
    settings.USE_X_FORWARDED_HOST = True
    request = rf.get("/", headers={"host": "acme.example.com", "x-forwarded-host": "globex.io"})
    assert get_request_host(request) == "globex.io"
    other = rf.get("/", headers={"host": "acme.example.com", "x-forwarded-host": "initech.io"})
    assert get_request_host(other) == "initech.io"  # same Host, another forwarded host


def test_checked_hosts_are_bounded(configure):
    from omnitenant import resolvers

    configure(RESOLUTION_CACHE_SIZE=3)
    for i in range(10):
        assert get_request_host(request_for(f"t{i}.example.com")) == f"t{i}.example.com"
        assert len(resolvers._checked_hosts) <= 3


# --- DomainResolver ---------------------------------------------------------------------


def test_domain_resolver_finds_the_domains_tenant_only(acme, globex):
    assert DomainResolver().resolve(request_for("shop.acme.io")) == acme
    assert DomainResolver().resolve(request_for("globex.io")) == globex
    assert DomainResolver().resolve(request_for("unknown.io")) is None


def test_domain_resolver_refuses_an_inactive_tenant(acme):
    acme.is_active = False
    acme.save()
    with pytest.raises(TenantNotFound, match="inactive"):
        DomainResolver().resolve(request_for("shop.acme.io"))


def test_domain_resolver_ignores_public_hosts(acme):
    create_tenant_row("www", domains=["www.example.com"])
    assert DomainResolver().resolve(request_for("www.example.com")) is None


# --- SubdomainResolver ------------------------------------------------------------------


def test_subdomain_resolver_maps_one_label_to_a_tenant(acme, globex):
    assert SubdomainResolver().resolve(request_for("acme.example.com")) == acme
    assert SubdomainResolver().resolve(request_for("GLOBEX.example.com:8000")) == globex


def test_subdomain_resolver_has_no_opinion_on_other_hosts(acme):
    resolver = SubdomainResolver()
    assert resolver.resolve(request_for("x.acme.example.com")) is None
    assert resolver.resolve(request_for("acme.example.org")) is None
    assert resolver.resolve(request_for("example.com")) is None
    assert resolver.resolve(request_for("notexample.com")) is None


def test_subdomain_resolver_skips_public_hosts():
    create_tenant_row("www")
    assert SubdomainResolver().resolve(request_for("www.example.com")) is None


def test_subdomain_resolver_refuses_unknown_and_inactive_tenants(acme):
    create_tenant_row("dormant", is_active=False)
    with pytest.raises(TenantNotFound, match="No tenant 'nobody'"):
        SubdomainResolver().resolve(request_for("nobody.example.com"))
    with pytest.raises(TenantNotFound, match="inactive"):
        SubdomainResolver().resolve(request_for("dormant.example.com"))


@pytest.mark.parametrize(
    "host", ["-acme.example.com", "acme-.example.com", "a" * 64 + ".example.com"]
)
def test_host_that_is_no_valid_host_name_is_refused_without_a_query(
    acme, host, django_assert_num_queries
):
    # Django's own host check lets these through; they can name no tenant.
    with django_assert_num_queries(0), pytest.raises(TenantNotFound, match="not a valid host"):
        SubdomainResolver().resolve(request_for(host))


def test_subdomain_resolver_is_off_without_base_domain(configure, acme):
    configure(BASE_DOMAIN=None)
    assert SubdomainResolver().resolve(request_for("acme.example.com")) is None


# --- HeaderResolver ---------------------------------------------------------------------


def test_header_resolver_is_off_by_default(acme):
    assert HeaderResolver().resolve(request_for("api.io", x_tenant_id="acme")) is None


def test_header_resolver_reads_the_configured_header(configure, acme, globex):
    configure(TENANT_HEADER="X-Tenant-ID")
    assert HeaderResolver().resolve(request_for("api.io", x_tenant_id="globex")) == globex
    assert HeaderResolver().resolve(request_for("api.io")) is None


def test_header_resolver_refuses_unknown_and_inactive_tenants(configure, acme):
    configure(TENANT_HEADER="X-Tenant-ID")
    create_tenant_row("dormant", is_active=False)
    with pytest.raises(TenantNotFound, match="No tenant 'nobody'"):
        HeaderResolver().resolve(request_for("api.io", x_tenant_id="nobody"))
    with pytest.raises(TenantNotFound, match="inactive"):
        HeaderResolver().resolve(request_for("api.io", x_tenant_id="dormant"))


@pytest.mark.parametrize(
    "value", ["acme:x", "*", "a" * 200, "äcme", "ACME", "", " acme", "acme\t", "pg_acme", "-a"]
)
def test_malformed_header_is_refused_without_a_query(
    configure, acme, value, django_assert_num_queries
):
    configure(TENANT_HEADER="X-Tenant-ID")
    lookup.tenant_by_id("acme")  # warm the stamp so that only a lookup could query
    request = rf.get("/", HTTP_HOST="api.io", HTTP_X_TENANT_ID=value)
    with django_assert_num_queries(0), pytest.raises(TenantNotFound):
        HeaderResolver().resolve(request)


# --- the chain --------------------------------------------------------------------------


def test_custom_domain_wins_over_subdomain_on_its_own_tenant_host():
    acme = create_tenant_row("acme", domains=["acme.example.com", "eu.acme.example.com"])
    assert DomainResolver().resolve(request_for("acme.example.com")) == acme
    assert resolve_tenant(request_for("eu.acme.example.com")) == acme


# --- domain rows saved without validation -------------------------------------------------


def slip_in(domain, tenant):
    """A domain row saved the way validation is skipped: bulk_create."""
    Domain.objects.bulk_create([Domain(domain=domain, tenant=tenant)])
    lookup.invalidate()


def test_foreign_domain_row_on_a_tenant_host_serves_the_subdomain_owner(acme, globex, caplog):
    slip_in("acme.example.com", globex)
    assert resolve_tenant(request_for("acme.example.com")) == acme
    assert "Domain 'acme.example.com' of tenant 'globex' is not served" in caplog.text
    assert "the host of tenant 'acme'" in caplog.text


def test_foreign_domain_row_on_a_missing_tenants_host_is_refused(globex):
    slip_in("hooli.example.com", globex)
    with pytest.raises(TenantNotFound, match="No tenant 'hooli'"):
        resolve_tenant(request_for("hooli.example.com"))


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("x.acme.example.com", "it lies under acme.example.com, the host of tenant 'acme'"),
        ("a.www.example.com", "it lies under public host 'www.example.com'"),
        ("com", "it is a parent of BASE_DOMAIN 'example.com'"),
    ],
)
def test_foreign_domain_row_elsewhere_is_refused(acme, globex, domain, reason):
    slip_in(domain, globex)
    expected = re.escape(f"of tenant 'globex' is not served: {reason}")
    with pytest.raises(TenantNotFound, match=expected):
        resolve_tenant(request_for(domain))


def test_foreign_domain_row_on_a_public_host_leaves_it_public(globex):
    slip_in("www.example.com", globex)
    assert resolve_tenant(request_for("www.example.com")) is None


@pytest.mark.parametrize(
    ("claimed", "kept"),
    [
        ("checkout.shop.acme.io", "shop.acme.io"),  # under acme's domain
        ("acme.io", "shop.acme.io"),  # above it
    ],
)
def test_domain_row_overlapping_an_older_custom_domain_is_not_served(
    acme, globex, claimed, kept, caplog
):
    slip_in(claimed, globex)
    with pytest.raises(TenantNotFound):
        resolve_tenant(request_for(claimed))
    assert f"Domain {claimed!r} of tenant 'globex' is not served" in caplog.text
    assert resolve_tenant(request_for(kept)) == acme


def test_an_older_custom_domain_keeps_serving_when_a_newer_one_overlaps_it(acme, globex):
    slip_in("acme.io", globex)
    assert resolve_tenant(request_for("shop.acme.io")) == acme


def test_subdomain_with_a_reserved_label_names_no_tenant(acme):
    with pytest.raises(TenantNotFound, match="No tenant 'xn--pple-43d'"):
        resolve_tenant(request_for("xn--pple-43d.example.com"))


def test_idn_domain_is_found_from_the_host_browsers_send():
    tenant = create_tenant_row("strasse", domains=["straße.test"])
    assert resolve_tenant(request_for("xn--strae-oqa.test")) == tenant
    with pytest.raises(TenantNotFound):
        resolve_tenant(request_for("strasse.test"))


@pytest.mark.parametrize("host", ["xn--zz.example", "xn--n3h.net", "shop.xn--.io"])
def test_invalid_punycode_host_is_refused_without_a_query(acme, host, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(TenantNotFound, match="not a valid host"):
        resolve_tenant(request_for(host))


def test_host_wins_over_header_and_a_matching_header_is_allowed(configure, acme):
    configure(TENANT_HEADER="X-Tenant-ID")
    assert resolve_tenant(request_for("shop.acme.io", x_tenant_id="acme")) == acme
    assert resolve_tenant(request_for("acme.example.com", x_tenant_id="acme")) == acme


def test_header_naming_another_tenant_than_the_host_is_refused(configure, acme, globex):
    configure(TENANT_HEADER="X-Tenant-ID")
    for host in ("shop.acme.io", "acme.example.com"):
        with pytest.raises(TenantNotFound, match="does not name the tenant"):
            resolve_tenant(request_for(host, x_tenant_id="globex"))


def test_header_selects_the_tenant_on_public_and_neutral_hosts(configure, acme, globex):
    configure(TENANT_HEADER="X-Tenant-ID")
    assert resolve_tenant(request_for("example.com", x_tenant_id="globex")) == globex
    assert resolve_tenant(request_for("gateway.internal", x_tenant_id="acme")) == acme


def test_public_host_without_header_has_no_tenant(acme):
    assert resolve_tenant(request_for("example.com")) is None
    assert resolve_tenant(request_for("WWW.example.com.:443")) is None


def test_host_matching_nothing_is_refused(acme):
    with pytest.raises(TenantNotFound, match=r"No tenant serves host 'gateway\.internal'"):
        resolve_tenant(request_for("gateway.internal"))


def test_header_sent_while_disabled_in_resolvers_is_never_ignored(configure, acme):
    configure(
        TENANT_HEADER="X-Tenant-ID",
        RESOLVERS=["omnitenant.resolvers.DomainResolver"],
    )
    with pytest.raises(TenantNotFound):
        resolve_tenant(request_for("example.com", x_tenant_id="acme"))


def test_resolvers_are_asked_in_the_configured_order(configure, acme, globex):
    configure(
        RESOLVERS=[
            "tests.test_resolvers.NoOpinionResolver",
            "tests.test_resolvers.StaticResolver",
            "omnitenant.resolvers.DomainResolver",
        ]
    )
    assert resolve_tenant(request_for("shop.acme.io")) == globex
    configure(
        RESOLVERS=["omnitenant.resolvers.DomainResolver", "tests.test_resolvers.StaticResolver"]
    )
    assert resolve_tenant(request_for("shop.acme.io")) == acme
    assert resolve_tenant(request_for("elsewhere.io")) == globex


def test_inactive_tenant_from_a_custom_resolver_is_refused(configure, globex):
    configure(RESOLVERS=["tests.test_resolvers.StaticResolver"])
    globex.is_active = False
    globex.save()
    with pytest.raises(TenantNotFound, match="inactive"):
        resolve_tenant(request_for("elsewhere.io"))


def test_resolver_classes_are_imported_once():
    paths = ("omnitenant.resolvers.DomainResolver", "tests.test_resolvers.StaticResolver")
    first = load_resolvers(paths)
    assert first is load_resolvers(paths)
    assert [type(r) for r in first] == [DomainResolver, StaticResolver]


def test_base_resolver_must_be_overridden():
    with pytest.raises(NotImplementedError):
        BaseResolver().resolve(request_for("example.com"))
