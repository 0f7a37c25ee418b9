"""The omnitenant AppConfig: registers the system checks and applies the enabled patches."""

from __future__ import annotations

import contextlib

from django.apps import AppConfig


class OmnitenantConfig(AppConfig):
    name = "omnitenant"
    verbose_name = "omnitenant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from omnitenant import (
            checks,  # noqa: F401 - registers the system checks
            lookup,
        )

        # With TENANT_MODEL/DOMAIN_MODEL unusable there is nothing to watch;
        # the omnitenant.E001/E002 checks tell the user what to fix.
        with contextlib.suppress(LookupError, ValueError):
            lookup.connect_invalidation()

        # database isolation: each thread's connection follows the active tenant's schema.
        from omnitenant.context import TenantContext
        from omnitenant.isolation import schema

        TenantContext.subscribe(schema.on_tenant_change)
