"""The omnitenant.testing plugin: fixtures and clients that send requests to a tenant."""

import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync

from omnitenant import TenantContext, lookup
from omnitenant.testing import (
    AsyncTenantClient,
    AsyncTenantRequestFactory,
    TenantClient,
    TenantRequestFactory,
    reset_lookups,
    tenant_host,
)
from tests.testapp.models import Domain, Tenant
from tests.testapp.views import whoami

pytestmark = pytest.mark.usefixtures("fresh_lookups")


def test_tenant_fixture_is_a_saved_active_tenant_with_its_subdomain(tenant):
    assert Tenant.objects.get(tenant_id="acme") == tenant
    assert tenant.is_active
    assert list(tenant.domains.values_list("domain", "is_primary")) == [("acme.example.com", True)]
    assert TenantContext.get_tenant() is None


def test_tenant_factory_creates_tenants_and_domains(tenant_factory):
    globex = tenant_factory("globex", domains=["globex.io", "www.globex.io"], is_active=False)
    assert globex.name == "Globex"
    assert not globex.is_active
    assert list(Domain.objects.filter(tenant=globex).values_list("domain", "is_primary")) == [
        ("globex.io", True),
        ("www.globex.io", False),
    ]


def test_tenant_client_reaches_only_its_tenant(tenant, tenant_factory, tenant_client):
    tenant_factory("globex", domains=["globex.io"])
    assert tenant_client.get("/whoami/").json()["active"] == "acme"
    assert TenantClient(Tenant.objects.get(tenant_id="globex")).get("/whoami/").json() == {
        "active": "globex",
        "request": "globex",
        "urlconf": None,
    }


def test_tenant_host_prefers_the_primary_domain(tenant_factory):
    globex = tenant_factory("globex", domains=["globex.io", "a.globex.io"])
    assert tenant_host(globex) == "globex.io"
    plain = tenant_factory("plain")
    assert tenant_host(plain) == "plain.example.com"


def test_tenant_host_without_domain_or_base_domain(tenant_factory, settings):
    plain = tenant_factory("plain")
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "BASE_DOMAIN": None}
    with pytest.raises(ValueError, match="has no domain and BASE_DOMAIN is not set"):
        tenant_host(plain)
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "TENANT_HEADER": "X-Tenant-ID"}
    assert tenant_host(plain) == "example.com"
    assert TenantClient(plain).get("/whoami/").json()["active"] == "plain"


def test_tenant_client_sends_the_header_when_enabled(tenant, settings):
    settings.OMNITENANT_CONFIG = {**settings.OMNITENANT_CONFIG, "TENANT_HEADER": "X-Tenant-ID"}
    client = TenantClient(tenant, host="gateway.internal")
    assert client.get("/whoami/").json()["active"] == "acme"


def test_async_tenant_client_reaches_only_its_tenant(tenant, tenant_factory):
    globex = tenant_factory("globex", domains=["globex.io"])

    async def go():
        first = await AsyncTenantClient(tenant).get("/awhoami/")
        second = await AsyncTenantClient(globex).get("/awhoami/")
        return first.json()["active"], second.json()["active"]

    assert async_to_sync(go)() == ("acme", "globex")


def test_request_factories_set_host_and_tenant(tenant):
    request = TenantRequestFactory(tenant).get("/whoami/")
    assert request.get_host() == "acme.example.com"
    with TenantContext.use_tenant(request.tenant):
        assert whoami(request).content == b'{"active": "acme", "request": "acme", "urlconf": null}'
    async_request = AsyncTenantRequestFactory(tenant).get("/whoami/")
    assert async_request.get_host() == "acme.example.com"
    assert async_request.tenant == tenant


def test_plugin_module_imports_no_models_and_needs_no_settings():
    code = (
        "import sys, omnitenant.testing\n"
        "from django.apps import apps\n"
        "assert not apps.ready\n"
        "assert 'tests.testapp.models' not in sys.modules\n"
        "assert 'omnitenant.models' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_reset_lookups_makes_the_next_lookup_query(tenant, django_assert_num_queries):
    lookup.tenant_by_id("acme")
    # A change no signal reports: only a reset makes this process see it.
    Tenant.objects.filter(tenant_id="acme").update(name="Renamed")
    assert lookup.tenant_by_id("acme").name == "Acme"
    reset_lookups()
    with django_assert_num_queries(1):
        assert lookup.tenant_by_id("acme").name == "Renamed"


def test_reset_lookups_needs_no_pytest():
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None\n"  # as if not installed
        "import django\n"
        "django.setup()\n"
        "from omnitenant.testing import reset_lookups\n"
        "reset_lookups()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_plugin_is_registered_with_pytest(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("omnitenant.testing") or (
        pytestconfig.pluginmanager.has_plugin("omnitenant")
    )
