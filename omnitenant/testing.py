"""Test helpers: clients that send requests to a tenant, and pytest fixtures (a plugin).

Installed as the pytest plugin ``omnitenant.testing``; the fixtures need pytest-django:

- ``tenant``: an active tenant ``"acme"`` with the domain ``acme.<BASE_DOMAIN>`` (not activated).
- ``tenant_factory``: ``tenant_factory("globex", domains=["globex.io"], name=...)``.
- ``tenant_client``: a ``TenantClient`` for ``tenant``.

Nothing here imports the project's models at import time, so the plugin loads before
Django is configured. The clients, ``create_tenant_row`` and ``reset_lookups`` need no pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.test import AsyncClient, AsyncRequestFactory, Client, RequestFactory

from omnitenant.conf import get_config

try:
    import pytest
except ImportError:  # the helpers work without pytest; the fixtures are then plain functions
    pytest = None  # type: ignore[assignment]


def _fixture(func: Any) -> Any:
    return func if pytest is None else pytest.fixture(func)


def tenant_host(tenant: Any) -> str:
    """The host that reaches ``tenant``: its primary domain, any domain, or its subdomain."""
    from omnitenant.lookup import get_domain_model

    domains = get_domain_model()._default_manager.filter(tenant__tenant_id=tenant.tenant_id)
    domain = domains.order_by("-is_primary", "domain").values_list("domain", flat=True).first()
    if domain:
        return domain
    config = get_config()
    if config.base_domain:
        return f"{tenant.tenant_id}.{config.base_domain}"
    if config.tenant_header and config.public_hosts:
        return config.public_hosts[0]
    msg = (
        f"Tenant {tenant.tenant_id!r} has no domain and BASE_DOMAIN is not set; give it a "
        "domain, or pass host= (and TENANT_HEADER) to the client."
    )
    raise ValueError(msg)


def _tenant_headers(tenant: Any, host: str | None) -> dict[str, str]:
    # With TENANT_HEADER enabled the header is sent too: on the tenant's own host it must
    # name that tenant anyway, and on a public or neutral host it selects it.
    headers = {"host": host or tenant_host(tenant)}
    header = get_config().tenant_header
    if header:
        headers[header] = tenant.tenant_id
    return headers


class _AsyncHostMixin:
    """Django's async factories always send ``host: testserver``; send only ours."""

    _tenant_headers: dict[str, str]

    def _base_scope(self, **request: Any) -> dict[str, Any]:
        scope = super()._base_scope(**request)  # type: ignore[misc]
        ours = [
            (name.lower().encode(), value.encode()) for name, value in self._tenant_headers.items()
        ]
        names = {name for name, _ in ours}
        scope["headers"] = [item for item in scope["headers"] if item[0] not in names] + ours
        return scope


class TenantClient(Client):
    """A test ``Client`` whose requests go to ``tenant`` (through TenantMiddleware)."""

    def __init__(self, tenant: Any, *, host: str | None = None, **defaults: Any) -> None:
        self.tenant = tenant
        headers = {**_tenant_headers(tenant, host), **defaults.pop("headers", {})}
        super().__init__(headers=headers, **defaults)


class AsyncTenantClient(_AsyncHostMixin, AsyncClient):
    """An ``AsyncClient`` whose requests go to ``tenant`` (through TenantMiddleware)."""

    def __init__(self, tenant: Any, *, host: str | None = None, **defaults: Any) -> None:
        self.tenant = tenant
        self._host = host
        super().__init__(**defaults)

    async def request(self, **request: Any) -> Any:
        # The host may need a query, which cannot run in the event loop: look it up here.
        if not hasattr(self, "_tenant_headers"):
            self._tenant_headers = await sync_to_async(_tenant_headers)(self.tenant, self._host)
        return await super().request(**request)


class TenantRequestFactory(RequestFactory):
    """A ``RequestFactory`` for ``tenant``: its host, and ``request.tenant`` set.

    Views called directly skip the middleware: run them inside
    ``TenantContext.use_tenant(factory.tenant)``.
    """

    def __init__(self, tenant: Any, *, host: str | None = None, **defaults: Any) -> None:
        self.tenant = tenant
        headers = {**_tenant_headers(tenant, host), **defaults.pop("headers", {})}
        super().__init__(headers=headers, **defaults)

    def request(self, **request: Any) -> Any:
        made = super().request(**request)
        made.tenant = self.tenant
        return made


class AsyncTenantRequestFactory(_AsyncHostMixin, AsyncRequestFactory):
    """An ``AsyncRequestFactory`` for ``tenant``: its host, and ``request.tenant`` set."""

    def __init__(self, tenant: Any, *, host: str | None = None, **defaults: Any) -> None:
        self.tenant = tenant
        self._tenant_headers = _tenant_headers(tenant, host)
        super().__init__(**defaults)

    def request(self, **request: Any) -> Any:
        made = super().request(**request)
        made.tenant = self.tenant
        return made


def create_tenant_row(
    tenant_id: str, *, domains: Iterable[str] = (), name: str | None = None, **fields: Any
) -> Any:
    """Save a TENANT_MODEL row and its DOMAIN_MODEL rows (the first domain is primary).

    Only rows: provisioning a schema or database stays an explicit step.
    """
    from omnitenant.lookup import get_domain_model, get_tenant_model

    tenant = get_tenant_model()._default_manager.create(
        tenant_id=tenant_id, name=name or tenant_id.title(), **fields
    )
    for index, domain in enumerate(domains):
        get_domain_model()._default_manager.create(
            domain=domain, tenant=tenant, is_primary=index == 0
        )
    return tenant


def reset_lookups() -> None:
    """Start tenant lookups cold: forget the cached ones here and in other processes.

    Also stops this process' stamp listener (the next lookup starts one under the settings in
    force then). Call it where a test changes tenant rows or lookup settings behind the
    signals' back (a rolled-back transaction, ``QuerySet.update``, ``override_settings``).
    """
    from omnitenant import lookup

    lookup.before_fork()
    lookup.invalidate()


@_fixture
def tenant_factory(db: None) -> Callable[..., Any]:
    """Create tenants: ``tenant_factory("globex", domains=["globex.io"], is_active=False)``."""
    return create_tenant_row


@_fixture
def tenant(tenant_factory: Callable[..., Any]) -> Any:
    """An active tenant ``"acme"`` reachable at ``acme.<BASE_DOMAIN>`` (not activated)."""
    base_domain = get_config().base_domain
    return tenant_factory("acme", domains=[f"acme.{base_domain}"] if base_domain else ())


@_fixture
def tenant_client(tenant: Any) -> TenantClient:
    """A ``TenantClient`` whose requests go to the ``tenant`` fixture."""
    return TenantClient(tenant)
