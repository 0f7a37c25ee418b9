"""TenantRouter: sends tenant apps' queries to the active tenant's database."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from omnitenant.conf import get_config
from omnitenant.context import TenantContext
from omnitenant.exceptions import NoTenantActive


def is_tenant_model(model: type[Model]) -> bool:
    """True when ``model`` belongs to an app listed in OMNITENANT_CONFIG['TENANT_APPS']."""
    return model._meta.app_label in get_config().tenant_apps


class TenantRouter:
    """A Django database router (see DATABASE_ROUTERS) that follows TenantContext."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return self._db_for(model)

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return self._db_for(model)

    def _db_for(self, model: type[Model]) -> str | None:
        if not is_tenant_model(model):
            return "default"
        if TenantContext.get_tenant() is None:
            msg = (
                f"{model._meta.label} is a tenant model and no tenant is active; run this "
                "code inside TenantContext.use_tenant(tenant)."
            )
            raise NoTenantActive(msg)
        return TenantContext.get_db_alias()
