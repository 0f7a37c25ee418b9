"""The omnitenant AppConfig: registers the checks and connects every part to TenantContext."""

from __future__ import annotations

import contextlib
import importlib.util

from django.apps import AppConfig


class OmnitenantConfig(AppConfig):
    name = "omnitenant"
    verbose_name = "omnitenant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from omnitenant import (
            checks,  # noqa: F401 - registers the system checks
            lookup,
        )
        from omnitenant.conf import get_config
        from omnitenant.context import TenantContext
        from omnitenant.isolation import schema

        # With TENANT_MODEL/DOMAIN_MODEL unusable there is nothing to watch;
        # the omnitenant.E001/E002 checks tell the user what to fix.
        with contextlib.suppress(LookupError, ValueError):
            lookup.connect_invalidation()

        # Every statement of a schema connection carries the schema of the tenant active when
        # it runs; activation only refuses a tenant named like the public schema.
        TenantContext.subscribe(schema.follow_tenant)
        connection_created.connect(schema.follow_context, dispatch_uid="omnitenant-schema")

        if get_config().patches.get("cache"):
            from omnitenant.patches.cache import patch_django_cache

            patch_django_cache()

        # The tenant travels in the headers of every task message sent.
        if importlib.util.find_spec("celery") is not None:
            from omnitenant.celery import connect_celery

            connect_celery()
