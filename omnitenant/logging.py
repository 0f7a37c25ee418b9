"""Tenant ids in logs, error reports and traces.

``TenantFilter`` adds ``record.tenant_id`` (``"-"`` with no tenant) to every log record; use
it from LOGGING and put ``%(tenant_id)s`` in a format. When sentry-sdk is installed, the
active tenant is the ``tenant`` tag of the current scope; when OpenTelemetry is installed,
the current span gets a ``tenant.id`` attribute. Both follow TenantContext, so requests,
commands and Celery tasks are tagged alike; neither package is imported when absent.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

from omnitenant.context import TenantContext

NO_TENANT = "-"


class TenantFilter(logging.Filter):
    """Add ``tenant_id`` (the active tenant's, or ``"-"``) to every record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        tenant = TenantContext.get_tenant()
        record.tenant_id = NO_TENANT if tenant is None else tenant.tenant_id
        return True


def tag_sentry_scope(tenant: Any) -> None:
    """Set (or with no tenant, remove) the ``tenant`` tag on sentry-sdk's current scope."""
    import sentry_sdk

    if tenant is None:
        sentry_sdk.get_isolation_scope().remove_tag("tenant")
    else:
        sentry_sdk.get_isolation_scope().set_tag("tenant", tenant.tenant_id)


def tag_current_span(tenant: Any) -> None:
    """Give OpenTelemetry's current span a ``tenant.id`` attribute (when one is recording)."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if tenant is not None and span.is_recording():
        span.set_attribute("tenant.id", tenant.tenant_id)


def connect_integrations() -> list[str]:
    """Subscribe the installed integrations (sentry, otel) to TenantContext; their names."""
    connected = []
    if importlib.util.find_spec("sentry_sdk") is not None:
        TenantContext.subscribe(tag_sentry_scope)
        connected.append("sentry")
    if importlib.util.find_spec("opentelemetry") is not None:
        TenantContext.subscribe(tag_current_span)
        connected.append("otel")
    return connected


def disconnect_integrations() -> None:
    """Undo ``connect_integrations``."""
    TenantContext.unsubscribe(tag_sentry_scope)
    TenantContext.unsubscribe(tag_current_span)
