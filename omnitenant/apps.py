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
            origin,
        )
        from omnitenant.conf import read_value
        from omnitenant.context import TenantContext
        from omnitenant.exceptions import ConfigurationError
        from omnitenant.isolation import schema

        # With TENANT_MODEL/DOMAIN_MODEL unusable there is nothing to watch;
        # the omnitenant.E001/E002 checks tell the user what to fix.
        with contextlib.suppress(LookupError, ValueError, ConfigurationError):
            lookup.connect_invalidation()

        # Tenant rows remember their tenant: TenantRouter.allow_relation compares it.
        origin.connect()

        # Every statement of a schema connection carries the schema of the tenant active when
        # it runs; activation only refuses a tenant named like the public schema.
        TenantContext.subscribe(schema.follow_tenant)
        connection_created.connect(schema.follow_context, dispatch_uid="omnitenant-schema")

        # One key only: a wrong value elsewhere must not stop the checks from reporting it.
        if read_value("PATCHES").get("cache", True):
            from omnitenant.patches.cache import patch_django_cache

            patch_django_cache()

        # With contenttypes as a tenant app each schema tenant has its own content type ids.
        from django.apps import apps

        if apps.is_installed("django.contrib.contenttypes"):
            from omnitenant.patches.contenttypes import patch_contenttypes_cache

            patch_contenttypes_cache()

        # The tenant travels in the headers of every task message sent.
        if importlib.util.find_spec("celery") is not None:
            from omnitenant.celery import connect_celery

            connect_celery()
