"""The tenant each tenant-model instance was loaded or saved in, for relation checks.

Schema tenants share the ``default`` alias, so ``instance._state.db`` cannot tell acme's row
from globex's. ``remember_tenant`` records the tenant active when an instance is built
(a query builds it inside the tenant whose schema it read) and again when it is saved.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.signals import setting_changed
from django.db.models import Model
from django.db.models.signals import post_init, post_save
from django.dispatch import receiver

from omnitenant.context import TenantContext
from omnitenant.exceptions import ConfigurationError
from omnitenant.routers import is_tenant_model

_ATTRIBUTE = "omnitenant_tenant_id"
_UNKNOWN = object()


def _current_tenant_id() -> str | None:
    tenant = TenantContext.get_tenant()
    return None if tenant is None else tenant.tenant_id


def remember_tenant(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """``post_init`` / ``post_save`` receiver of each tenant model: note the active tenant."""
    setattr(instance._state, _ATTRIBUTE, _current_tenant_id())


def tenant_id_of(instance: Model) -> str | None:
    """The tenant_id ``instance`` was loaded or saved in (None: no tenant).

    An instance still being built (its fields are set before ``post_init``) belongs to the
    tenant active now.
    """
    tenant_id = getattr(instance._state, _ATTRIBUTE, _UNKNOWN)
    return _current_tenant_id() if tenant_id is _UNKNOWN else tenant_id


def connect() -> None:
    """Connect ``remember_tenant`` to every tenant model (idempotent).

    Per model, so that building a shared model's instance costs nothing extra. With
    ``TENANT_APPS`` unreadable nothing is connected: the router refuses tenant models then,
    and the system checks say why.
    """
    try:
        models = [model for model in apps.get_models() if is_tenant_model(model)]
    except ConfigurationError:
        return
    for model in models:
        label = model._meta.label
        post_init.connect(remember_tenant, sender=model, dispatch_uid=f"omnitenant-{label}")
        post_save.connect(remember_tenant, sender=model, dispatch_uid=f"omnitenant-{label}")


@receiver(setting_changed)
def _connect_new_tenant_models(*, setting: str, **kwargs: Any) -> None:
    if setting == "OMNITENANT_CONFIG" and apps.ready:
        connect()
