"""TenantMiddleware: runs each request inside its tenant, or refuses it with a 404."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.db import OperationalError, connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotFound
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers

from omnitenant import context, lookup
from omnitenant.conf import get_config
from omnitenant.context import TenantContext
from omnitenant.exceptions import TenantNotFound, TenantNotProvisioned
from omnitenant.isolation import schema as schema_isolation
from omnitenant.resolvers import get_header_value, get_request_host, get_resolvers, is_public_host

logger = logging.getLogger(__name__)

NOT_FOUND_TEMPLATE = "omnitenant/tenant_not_found.html"
RETRY_AFTER_SECONDS = 30
OUTAGE_RETRY_AFTER_SECONDS = 5


def resolve_tenant(request: HttpRequest) -> Any:
    """The tenant ``request`` is for, or None for a public host; raise TenantNotFound otherwise.

    The first resolver that returns a tenant wins. A tenant header, when enabled and sent,
    must then name exactly that tenant: a header cannot move a request to another tenant,
    and one sent to a host that resolves to nothing is never ignored.
    """
    host = get_request_host(request)
    if lookup.reads_stamp():
        with lookup.stamp_read_once():
            tenant = _first_tenant(request)
    else:
        tenant = _first_tenant(request)
    header_value = get_header_value(request) if get_config().tenant_header else None
    if header_value is not None and (tenant is None or header_value != tenant.tenant_id):
        msg = f"Header {get_config().tenant_header} does not name the tenant of host {host!r}."
        raise TenantNotFound(msg)
    if tenant is None:
        if is_public_host(host):
            return None
        msg = f"No tenant serves host {host!r}."
        raise TenantNotFound(msg)
    if not getattr(tenant, "is_active", True):
        msg = f"Tenant {tenant.tenant_id!r} is inactive."
        raise TenantNotFound(msg)
    return tenant


def _resolve_provisioned(request: HttpRequest) -> Any:
    """``resolve_tenant``, then TenantNotProvisioned if its schema is incomplete (cached)."""
    tenant = resolve_tenant(request)
    schema_isolation.ensure_provisioned(tenant)
    return tenant


def _first_tenant(request: HttpRequest) -> Any:
    for resolver in get_resolvers():
        tenant = resolver.resolve(request)
        if tenant is not None:
            return tenant
    return None


class TenantMiddleware:
    """Resolves the request's tenant and keeps it active until the response is fully sent.

    Put it first in MIDDLEWARE. Sets ``request.tenant`` (None on public hosts) and
    ``request.urlconf`` from TENANT_URLCONF / PUBLIC_URLCONF when set. Streaming bodies
    are produced chunk by chunk inside the tenant, which is inactive between chunks, so
    the server code consuming them never sees it. Works natively on WSGI and ASGI.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        try:
            tenant = _resolve_provisioned(request)
        except TenantNotFound as exc:
            return vary_on_tenant_header(refuse(request, exc))
        except TenantNotProvisioned as exc:
            return vary_on_tenant_header(unavailable(request, exc))
        _prepare(request, tenant)
        # use_tenant() without its scope object: this frame is the one that leaves it.
        frame = context.enter(tenant)
        try:
            response = self.get_response(request)
        finally:
            context.leave(frame)
        if response.streaming:
            _keep_tenant_while_streaming(response, tenant)
        return vary_on_tenant_header(response)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            with lookup.stamp_read_once():
                # A network read of the stamp would stall every request on this loop.
                await lookup.acompare_stamp()
                try:
                    tenant = _resolve_provisioned(request)
                except SynchronousOnlyOperation:
                    # A cold lookup (or provisioning check) needs the database: only then
                    # pay the thread hop.
                    tenant = await sync_to_async(_resolve_provisioned)(request)
        except TenantNotFound as exc:
            return vary_on_tenant_header(refuse(request, exc))
        except TenantNotProvisioned as exc:
            return vary_on_tenant_header(unavailable(request, exc))
        _prepare(request, tenant)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        frame = context.enter(tenant)
        try:
            response = await get_response(request)
        finally:
            context.leave(frame)
        if response.streaming:
            _keep_tenant_while_streaming(response, tenant)
        return vary_on_tenant_header(response)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        """A view that reached an unprovisioned tenant, or a database it cannot use, answers 503."""
        if isinstance(exception, TenantNotProvisioned):
            return vary_on_tenant_header(unavailable(request, exception))
        if isinstance(exception, OperationalError) and _connection_lost():
            return vary_on_tenant_header(database_unavailable(request, exception))
        return None


def vary_on_tenant_header(response: HttpResponseBase) -> HttpResponseBase:
    """Add TENANT_HEADER, when enabled, to ``response``'s Vary header and return it.

    With the header enabled every request is checked against it, on tenant hosts too (a
    header naming another tenant is refused), so every response depends on it: without
    Vary a shared cache could serve one tenant's page, or a refusal, for another.
    """
    header = get_config().tenant_header
    if header:
        patch_vary_headers(response, (header,))
    return response


def _prepare(request: HttpRequest, tenant: Any) -> None:
    request.tenant = tenant  # type: ignore[attr-defined]
    config = get_config()
    urlconf = config.public_urlconf if tenant is None else config.tenant_urlconf
    if urlconf:
        request.urlconf = urlconf  # type: ignore[attr-defined]


def refuse(request: HttpRequest, exc: TenantNotFound) -> HttpResponseNotFound:
    """The 404 for a request no tenant may serve; logged at INFO with the host."""
    request.tenant = None  # type: ignore[attr-defined]
    host = request.get_host()
    logger.info("Refused request for host %r: %s", host, exc)
    # Rendered with no tenant, whatever the caller had active, so that nothing of a
    # tenant (templates, context processors, cache) can show up on the refusal page.
    with TenantContext.use_tenant(None):
        try:
            content = render_to_string(NOT_FOUND_TEMPLATE, {"host": host}, request=request)
        except TemplateDoesNotExist:
            content = "<h1>Not Found</h1>"
    return HttpResponseNotFound(content)


def unavailable(request: HttpRequest, exc: TenantNotProvisioned) -> HttpResponse:
    """The 503 for a tenant whose schema or tables are missing; logged with the cause."""
    logger.warning("Tenant of host %r is not provisioned: %s", request.get_host(), exc)
    return _service_unavailable("This site is not ready yet.", RETRY_AFTER_SECONDS)


def database_unavailable(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    """The 503 for a request whose database cannot be used now (e.g. its server is down).

    Logged at WARNING with the tenant id and the cause, which the page never shows. Django
    closes a connection left unusable when the request ends: the next request reconnects.
    """
    tenant = getattr(request, "tenant", None)
    logger.warning(
        "Database unavailable for tenant %r (host %r): %s",
        None if tenant is None else tenant.tenant_id,
        request.get_host(),
        exc,
    )
    return _service_unavailable(
        "This site is unavailable for a moment; please try again shortly.",
        OUTAGE_RETRY_AFTER_SECONDS,
    )


def _connection_lost() -> bool:
    """True when one of this thread's database connections failed to open or broke.

    Tells an outage from an OperationalError on a working connection (SQLite's "no such
    table", a statement timeout), which stays an error of the site.
    """
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred and (
            connection.connection is None or not connection.is_usable()
        ):
            return True
    return False


def _service_unavailable(message: str, retry_after: int) -> HttpResponse:
    response = HttpResponse(f"<h1>Service Unavailable</h1><p>{message}</p>", status=503)
    response["Retry-After"] = str(retry_after)
    return response


def _keep_tenant_while_streaming(response: Any, tenant: Any) -> None:
    # Each chunk is produced inside the tenant, which is inactive between chunks.
    if response.is_async:
        response.streaming_content = context.aiterate_in(tenant, response.streaming_content)
    else:
        response.streaming_content = context.iterate_in(tenant, response.streaming_content)
