"""The parts of django-tenants' migration executors omnitenant reuses, imported in one place.

Importing its migration executors imports ``django_tenants.signals``, which connects a
``post_delete`` receiver to every model: it reads ``settings.TENANT_MODEL`` (a django-tenants
setting omnitenant does not use) on each delete, and would drop a schema when a tenant row is
deleted. omnitenant drops data only through ``deprovision_tenant(drop_data=True)``, so the
receiver is disconnected here.
"""

from __future__ import annotations

from django.db.models.signals import post_delete
from django_tenants.migration_executors.base import LinePrefixStream, run_migrations
from django_tenants.signals import tenant_delete_callback

post_delete.disconnect(tenant_delete_callback)

__all__ = ["LinePrefixStream", "run_migrations"]
