"""The tenant each tenant-model instance was loaded or saved in, for relation checks.

Schema tenants share the ``default`` alias, so ``instance._state.db`` cannot tell acme's row
from globex's. ``remember_tenant`` records the tenant active when an instance is built
(a query builds it inside the tenant whose schema it read) and again when it is saved.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from omnitenant.context import TenantContext

_ATTRIBUTE = "omnitenant_tenant_id"
_UNKNOWN = object()


def _current_tenant_id() -> str | None:
    tenant = TenantContext.get_tenant()
    return None if tenant is None else tenant.tenant_id


def remember_tenant(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """``post_init`` / ``post_save`` receiver: note the active tenant on a tenant-model row."""
    from omnitenant.routers import is_tenant_model

    if is_tenant_model(sender):
        setattr(instance._state, _ATTRIBUTE, _current_tenant_id())


def tenant_id_of(instance: Model) -> str | None:
    """The tenant_id ``instance`` was loaded or saved in (None: no tenant).

    An instance still being built (its fields are set before ``post_init``) belongs to the
    tenant active now.
    """
    tenant_id = getattr(instance._state, _ATTRIBUTE, _UNKNOWN)
    return _current_tenant_id() if tenant_id is _UNKNOWN else tenant_id


def connect() -> None:
    """Connect ``remember_tenant`` (idempotent)."""
    from django.db.models.signals import post_init, post_save

    post_init.connect(remember_tenant, dispatch_uid="omnitenant-origin-init")
    post_save.connect(remember_tenant, dispatch_uid="omnitenant-origin-save")
