"""Vary on TENANT_HEADER as a shared HTTP cache sees it: on the wire of real servers.

Also the URLconf the servers use (ROOT_URLCONF = this module).
"""

import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import cache_page

from omnitenant import TenantContext
from omnitenant.testing import create_tenant_row
from tests.servers.http import KINDS, database_overrides, serve

# The test database must exist; the rows the servers read are committed by the fixture.
pytestmark = pytest.mark.django_db

HEADER = "X-Tenant-ID"


def _current():
    tenant = TenantContext.get_tenant()
    return "public" if tenant is None else tenant.tenant_id


@cache_page(60)
def page(request):
    return HttpResponse(f"page of {_current()}")


def stream(request):
    response = StreamingHttpResponse(f"{i}:{_current()};" for i in range(3))
    patch_cache_control(response, max_age=60, public=True)
    return response


urlpatterns = [path("page/", page), path("stream/", stream)]


@pytest.fixture(scope="module", params=KINDS)
def server(request, django_db_setup, django_db_blocker):
    """One server per kind for the module, serving committed rows deleted afterwards."""
    from django.conf import settings

    with django_db_blocker.unblock():
        tenants = [
            create_tenant_row("acme", domains=["shop.acme.io"]),
            create_tenant_row("globex", domains=["globex.io"]),
        ]
        config = {**settings.OMNITENANT_CONFIG, "TENANT_HEADER": HEADER}
        overrides = {**database_overrides(), "OMNITENANT_CONFIG": config, "ROOT_URLCONF": __name__}
    try:
        with serve(request.param, overrides) as client:
            yield client
    finally:
        with django_db_blocker.unblock():
            for tenant in tenants:
                tenant.delete()


def vary(response):
    return [name.strip().lower() for name in (response.getheader("Vary") or "").split(",")]


@pytest.mark.parametrize(
    ("host", "headers", "status", "body"),
    [
        ("example.com", {HEADER: "acme"}, 200, b"page of acme"),
        ("example.com", {HEADER: "globex"}, 200, b"page of globex"),
        ("example.com", {}, 200, b"page of public"),
        ("example.com", {HEADER: "nobody"}, 404, None),
        ("gateway.internal", {HEADER: "globex"}, 200, b"page of globex"),
        ("gateway.internal", {}, 404, None),
        ("shop.acme.io", {}, 200, b"page of acme"),
        ("shop.acme.io", {HEADER: "globex"}, 404, None),
    ],
)
def test_cached_page_varies_on_the_tenant_header_on_the_wire(server, host, headers, status, body):
    for _ in range(2):  # the second answer comes from cache_page
        response = server.get("/page/", host, **headers)
        assert response.status == status
        assert HEADER.lower() in vary(response)
        if body is not None:
            assert response.body == body
            assert "max-age=60" in response.getheader("Cache-Control")


def test_streamed_response_varies_on_the_tenant_header_on_the_wire(server):
    for tenant_id in ("acme", "globex"):
        response = server.get("/stream/", "example.com", **{HEADER: tenant_id})
        assert response.status == 200
        assert response.body == f"0:{tenant_id};1:{tenant_id};2:{tenant_id};".encode()
        assert HEADER.lower() in vary(response)
